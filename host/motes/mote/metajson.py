"""The metadata section (kind 1) as a board reads it (docs/FORMAT.md, Metadata)."""
from __future__ import annotations


def board_json(data: bytes):
    """The metadata as the board's json.loads reads it (MicroPython's extmod/modjson.c):
    a lenient parser (commas and colons count as spaces), so the host accepts and
    refuses exactly the files a board does. ValueError if it fails there.

    One function of about 95 lines, on purpose: it follows modjson.c's one loop
    statement for statement, so that the two can be compared side by side."""
    data = bytes(data)
    n, i = len(data), 0
    NONE = object()
    stack, top, key = [], None, NONE

    def cur():
        return data[i] if i < n else 0          # a 0 byte ends the input there too

    while True:
        c = cur()
        if not c:
            raise ValueError("syntax error in JSON")
        i += 1
        enter, value = False, NONE
        if c in b",: \t\n\r":
            continue
        for word, v in ((b"null", None), (b"false", False), (b"true", True)):
            if c == word[0]:
                if data[i:i + len(word) - 1] != word[1:]:
                    raise ValueError("syntax error in JSON")
                i += len(word) - 1
                value = v
        if value is not NONE or c in b"nft":
            pass
        elif c == 0x22:                                # a string
            out = bytearray()
            while cur() and cur() != 0x22:
                b = cur()
                if b == 0x5C:
                    i += 1
                    b = cur()
                    if b == 0x75:                      # \uXXXX
                        num = 0
                        for _ in range(4):
                            i += 1
                            d = ((cur() | 0x20) - 0x30) & 0xFF
                            if d > 9:
                                d = (d - (0x61 - 0x3A)) & 0xFF
                            num = (num << 4) | d
                        out += chr(num).encode("utf-8", "surrogatepass")
                        i += 1
                        continue
                    b = {0x62: 8, 0x66: 12, 0x6E: 10, 0x72: 13, 0x74: 9}.get(b, b)
                out.append(b)
                i += 1
            if not cur():
                raise ValueError("syntax error in JSON")
            i += 1
            value = out.decode("utf-8")
        elif c == 0x2D or 0x30 <= c <= 0x39:          # a number
            start, flt = i - 1, False
            while True:
                b = cur()
                if b in b".Ee":
                    flt = True
                elif not (b in b"+-" or 0x30 <= b <= 0x39) or not b:
                    break
                i += 1
            text = data[start:i].decode()
            value = float(text) if flt else int(text)
        elif c in b"[{":
            value, enter = ([] if c == 0x5B else {}), True
        elif c in b"]}":
            if top is None:
                raise ValueError("syntax error in JSON")
            if not stack:
                break
            top = stack.pop()
            continue
        else:
            raise ValueError("syntax error in JSON")
        if top is None:
            top = value
            if not enter:
                break
            continue
        if isinstance(top, list):
            top.append(value)
        else:
            if key is NONE:
                if enter:
                    raise ValueError("syntax error in JSON")
                key = value
            else:
                top[key] = value
                key = NONE
        if enter:
            stack.append(top)
            top = value
    while cur() and data[i] in b" \t\n\r\f\v":
        i += 1
    if cur() or stack:
        raise ValueError("syntax error in JSON")
    return top
