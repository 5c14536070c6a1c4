"""Writes the CloudWatch Logs subscription payloads of this folder from their readable sources.

CloudWatch Logs delivers a subscription's batch to Lambda as {"awslogs": {"data": ...}}, the
data being the batch's JSON, gzipped and base64-encoded. Each `*.decoded.json` here is such a
batch as JSON; this script writes `<name>.json` beside it in the delivered shape.

    python3 infra/events/logs/encode.py
"""

import base64
import gzip
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent

for source in sorted(HERE.glob("*.decoded.json")):
    batch = json.loads(source.read_text())
    # mtime=0: the same batch always encodes to the same bytes.
    data = base64.b64encode(gzip.compress(json.dumps(batch).encode(), mtime=0)).decode()
    target = source.with_name(source.name.replace(".decoded.json", ".json"))
    target.write_text(json.dumps({"awslogs": {"data": data}}, indent=2) + "\n")
    print(f"{target.relative_to(HERE.parent.parent.parent)}: {len(batch.get('logEvents', []))} log events")
