"""The ``mutated-answer`` fault: the answer the regulator would give, broken in one stated way.

The suite derives the ways from the answer schema (``conformance.suite.answer_mutations``); here the
simulator only applies one to the real answer of the request at hand, so the broken answer still
echoes that request's ``requestId`` and describes its certificate in every other field. Operations:

    set [path, value]       the JSON value at ``path`` (a JSON pointer) replaced or added
    remove [path]           the member at ``path`` removed
    truncate [fraction]     the encoded answer cut to this share of its bytes (0 < fraction < 1)
    text [text]             the body replaced by this text, not JSON (served as application/json)
"""

from __future__ import annotations

import copy
import json
from typing import Any

OPS = ("set", "remove", "truncate", "text")
PARAMS: dict[str, Any] = {"op": "truncate", "path": "", "value": None, "fraction": 0.5, "text": ""}


def check(params: dict[str, Any]) -> None:
    """Raise ValueError naming what is wrong with a mutated-answer fault's params."""
    op = params["op"]
    if op not in OPS:
        raise ValueError(f"params.op of 'mutated-answer' must be one of {', '.join(OPS)}")
    if op in ("set", "remove"):
        path = params["path"]
        if not isinstance(path, str) or not path.startswith("/"):
            raise ValueError("params.path of 'mutated-answer' must be a JSON pointer such as /certificate/status")
    if op == "truncate":
        fraction = params["fraction"]
        if not isinstance(fraction, int | float) or isinstance(fraction, bool) or not 0 < fraction < 1:
            raise ValueError("params.fraction of 'mutated-answer' must be a number between 0 and 1")
    if op == "text" and not isinstance(params["text"], str):
        raise ValueError("params.text of 'mutated-answer' must be a string")


def _tokens(pointer: str) -> list[str]:
    return [t.replace("~1", "/").replace("~0", "~") for t in pointer.split("/")[1:]]


def apply(answer: dict[str, Any], params: dict[str, Any]) -> bytes:
    """The body to serve: ``answer`` (the real answer, as a dict) with the mutation applied."""
    op = params["op"]
    if op == "text":
        return str(params["text"]).encode("utf-8")
    if op == "truncate":
        whole = json.dumps(answer, ensure_ascii=False).encode("utf-8")
        return whole[:max(1, int(len(whole) * float(params["fraction"])))]
    doc = copy.deepcopy(answer)
    *parents, last = _tokens(str(params["path"]))
    node: Any = doc
    following = [*parents[1:], last]
    for token, after in zip(parents, following, strict=False):  # no parents: a top-level member
        if isinstance(node, list) and token.isdigit() and int(token) < len(node):
            node = node[int(token)]
        elif isinstance(node, dict) and isinstance(node.get(token), dict | list):
            node = node[token]
        elif isinstance(node, dict) and token not in node and op != "remove":
            # An optional member this certificate lacks (e.g. standards): make it, so the answer served
            # really breaks the rule the case names, whatever the certificate's data.
            node[token] = [] if after.isdigit() else {}
            node = node[token]
        else:
            node = None   # the path does not exist in this answer: served unchanged below
            break
    if isinstance(node, dict):
        if op == "remove":
            node.pop(last, None)
        else:
            node[last] = params["value"]
    elif isinstance(node, list) and last.isdigit() and int(last) < len(node):
        if op == "remove":
            del node[int(last)]
        else:
            node[int(last)] = params["value"]
    elif isinstance(node, list) and last.isdigit() and op != "remove":
        node.append(params["value"])
    return json.dumps(doc, ensure_ascii=False).encode("utf-8")
