"""The CloudWatch Logs subscription of the local environment: Express log records, delivered to the
events function in the shape a subscription filter delivers them to Lambda.

There are no CloudWatch Logs locally. Each record express.py writes goes into a queue; a sender
groups what is waiting by log stream into one `DATA_MESSAGE` batch (messageType, owner, logGroup,
logStream, subscriptionFilters, logEvents [{id, timestamp, message}]), gzips and base64-encodes
it as `{"awslogs": {"data": ...}}`, and invokes the function asynchronously (Lambda's Invoke API,
`X-Amz-Invocation-Type: Event`) on the loopback runtime (lambda_runtime.py), which retries a failed
invocation as Lambda does. A destination that cannot be reached is tried again until it answers,
in order, as CloudWatch Logs keeps retrying a subscription's delivery.
"""

from __future__ import annotations

import base64
import gzip
import itertools
import json
import queue
import secrets
import sys
import threading
import time
import urllib.error
import urllib.request

MAX_BATCH_EVENTS = 1000
RETRY_FIRST_SECONDS, RETRY_LAST_SECONDS = 0.2, 5.0


def log_group(machine_arn: str, config: dict) -> str:
    """The log group of the machine's loggingConfiguration (its first destination)."""
    for destination in config.get("destinations") or []:
        arn = (destination.get("cloudWatchLogsLogGroup") or {}).get("logGroupArn", "")
        if ":log-group:" in arn:
            return arn.split(":log-group:", 1)[1].removesuffix(":*")
    return "/aws/vendedlogs/states/" + machine_arn.rsplit(":", 1)[-1]


def payload(owner: str, group: str, stream: str, subscription: str, events: list[dict]) -> bytes:
    batch = {"messageType": "DATA_MESSAGE", "owner": owner, "logGroup": group, "logStream": stream,
             "subscriptionFilters": [subscription], "logEvents": events}
    data = base64.b64encode(gzip.compress(json.dumps(batch).encode("utf-8"))).decode("ascii")
    return json.dumps({"awslogs": {"data": data}}).encode("utf-8")


class SubscriptionDelivery:
    def __init__(self, destination: str | None):
        self.destination = destination
        self.waiting: queue.Queue = queue.Queue()
        self.ids = itertools.count(1)
        self.stream_suffix = secrets.token_hex(4)
        if destination:
            threading.Thread(target=self.send_forever, name="log-subscription", daemon=True).start()

    def record(self, machine_arn: str, config: dict, record: dict) -> None:
        """Queues one Step Functions log record of `machine_arn` for its log group's subscription."""
        if not self.destination:
            return  # no subscription: the record is written nowhere, as with no filter on AWS
        machine = machine_arn.rsplit(":", 1)[-1]
        timestamp = int(record["event_timestamp"])
        minute = time.strftime("%Y-%m-%d-%H-%M", time.gmtime(timestamp / 1000))
        key = (machine_arn.split(":")[4], log_group(machine_arn, config),
               f"states/{machine}/{minute}/{self.stream_suffix}", f"{machine}-results")
        event = {"id": f"{timestamp:020d}{next(self.ids):036d}", "timestamp": timestamp,
                 "message": json.dumps(record)}
        self.waiting.put((key, event))

    def send_forever(self) -> None:
        while True:
            waiting = [self.waiting.get()]
            while len(waiting) < MAX_BATCH_EVENTS:
                try:
                    waiting.append(self.waiting.get_nowait())
                except queue.Empty:
                    break
            streams: dict[tuple, list[dict]] = {}
            for key, event in waiting:
                streams.setdefault(key, []).append(event)
            for (owner, group, stream, subscription), events in streams.items():
                self.deliver(payload(owner, group, stream, subscription, events))

    def deliver(self, body: bytes) -> None:
        pause = RETRY_FIRST_SECONDS
        while True:
            request = urllib.request.Request(self.destination, data=body, method="POST", headers={
                "Content-Type": "application/json", "X-Amz-Invocation-Type": "Event"})
            try:
                with urllib.request.urlopen(request, timeout=10) as answer:
                    if answer.status == 202:
                        return
                    why = f"answered {answer.status}"
            except (urllib.error.URLError, OSError) as error:
                why = str(error)
            print(f"log subscription: delivery to {self.destination} failed ({why}); retrying", file=sys.stderr, flush=True)
            time.sleep(pause)
            pause = min(pause * 2, RETRY_LAST_SECONDS)
