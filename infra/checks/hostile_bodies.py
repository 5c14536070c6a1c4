"""Request bodies that break naive templating: every one is JSON as a client would post it, byte for byte.

Shared by the template checks (test_templates.py) and the local gateway's tests
(infra/local/tests), which post them through the API and read the execution input back.
"""

import json

LARGE = json.dumps(
    {"items": [{"id": i, "text": "x'\"\\/\u00e9\U0001F600" * 8} for i in range(1600)]}, ensure_ascii=False
)
assert 200_000 < len(LARGE.encode("utf-8")) < 256 * 1024

# (why, posted body). Every one is JSON as a client would post it, byte for byte.
HOSTILE_BODIES = [
    ("double quotes", '{"say": "he said \\"hi\\"", "\\"key\\"": "\\""}'),
    ("apostrophes", '{"name": "O\'Brien", "note": "it\'s", "only": "\'"}'),
    ("backslashes", '{"path": "C:\\\\Users\\\\x", "re": "\\\\d+", "end": "\\\\"}'),
    ("backslash then apostrophe", '{"s": "\\\\\'", "t": "\\\\\\\\\'\'"}'),
    ("slashes", '{"url": "https://example.com/a/b", "html": "</script><script>", "escaped": "\\/"}'),
    ("escaped control characters", '{"c": "\\u0000\\u0001\\u001f\\b\\f\\n\\r\\t\\u007f"}'),
    ("raw whitespace between tokens", '{\n\t"a" :\r\n 1 ,\t"b":[ ]\n}\n'),
    ("raw non-ASCII", '{"fr": "élève", "ja": "日本語", "emoji": "😀👍🏽", "rtl": "שלום", "sep": "\u2028\u2029"}'),
    ("escaped non-ASCII and surrogates", '{"e": "\\u00e9", "pair": "\\ud83d\\ude00", "bom": "\\ufeff"}'),
    ("template syntax as data", '{"v": "$input.body #set($x = 1) ${context.requestId} ## no comment", "h": "#end"}'),
    ("percent and plus", '{"q": "a+b%20c%", "amp": "&=?#"}'),
    ("nested JSON", '{"a": {"b": {"c": [1, [2, [3, {"d": null}]]]}}, "e": [true, false]}'),
    ("a JSON string", '"it\'s a \\"string\\" with \\\\ and \\/"'),
    ("a JSON string holding JSON", '"{\\"a\\": 1}"'),
    ("an integer", "42"),
    ("a number with exponent", "-0.5e-3"),
    ("null", "null"),
    ("true", "true"),
    ("an array", '[1, "two", {"three": [3]}, []]'),
    ("empty object", "{}"),
    ("empty body", ""),
    ("large body (about 200 KiB)", LARGE),
]
