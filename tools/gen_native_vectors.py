#!/usr/bin/env python3
"""Write the vectors of the standalone C test driver (tests/native/driver.c): inputs with the
outputs the Python reference gives for them, so the C core can be checked where no Python runs
(the aarch64 build under qemu, tests/native/run_aarch64.sh).

usage: python tools/gen_native_vectors.py [--shared DIR] OUT

Two kinds of lines, whitespace-separated fields, bytes as ``x`` + lower hex (``x`` alone is
empty), ``-`` for "not recorded":

``P text n (tag start end)*n h8 scrubbed``
    a PHI case: the reference scanner's spans (tag index, byte offsets into the UTF-8 text),
    the 8-character hashes of those spans (fixed key) and the reference scrubber's output
    (``-`` for texts that Unicode folding changes: those are scanned folded, in Python).
``E key sig hram verdict``
    an Ed25519 case: 32-byte key, 64-byte signature, SHA-512(R || A || message) (the C API takes
    the digest, the caller hashes), and PyNaCl's (libsodium's) verdict, 1 or 0.

Cases: a slice of the developer corpus (``../shared/corpus``), the issue 17 families
(tools/gen_phi_corpus.py), label soups of the differential tests' fragments, random bytes; RFC
8032, the "Taming the many EdDSAs" cases, keys and nonces with small-order components,
non-canonical and undecodable encodings, every small-order point as R and as A, the signatures
of ``../shared/vectors`` under each of their keys, random valid and corrupted signatures.
Wrong lengths never reach the C API (its fields are fixed-size; agent.crypto.batch refuses them
before), so they are not here. The same arguments give the same file.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT / "src"), str(ROOT), str(ROOT / "tools")]

import gen_phi_corpus  # noqa: E402
import nacl.signing  # noqa: E402
from tests.crypto import edmodel as em  # noqa: E402
from tests.phi.test_differential import FRAGMENTS  # noqa: E402

from agent.crypto.keys import verify_ed25519  # noqa: E402
from agent.phi import make_scrubber  # noqa: E402
from agent.phi.fold import fold  # noqa: E402
from agent.phi.scrubber import ReferenceScanner, Scrubber  # noqa: E402

KEY = bytes(range(32))  # the PHI tests' fixed key
ENC, ERRORS = "utf-8", "surrogatepass"  # as agent.phi.native_scan encodes text
CORPUS_CASES = 300
Item = tuple[bytes, bytes, bytes]


def _x(data: bytes) -> str:
    return "x" + data.hex()


# ---- PHI ---------------------------------------------------------------------------------------

def phi_texts(shared: Path) -> list[str]:
    corpus = shared / "corpus" / "phi-dev.jsonl"
    if not corpus.is_file():
        raise SystemExit(f"gen_native_vectors: developer corpus not found at {corpus}")
    lines = [json.loads(line)["text"] for line in corpus.open(encoding="utf-8")]
    texts = lines[:: max(1, len(lines) // CORPUS_CASES)][:CORPUS_CASES]
    texts += [str(r["text"]) for r in gen_phi_corpus.records(21, 200)]
    rng = random.Random(21)  # noqa: S311 - test data, reproducible
    for _ in range(150):
        sep = rng.choice(["", " ", ": "])
        texts.append(sep.join(rng.choice(FRAGMENTS) for _ in range(rng.randrange(1, 20))))
    for _ in range(50):
        raw = bytes(rng.randrange(256) for _ in range(rng.randrange(120)))
        texts.append(raw.decode(ENC, "surrogateescape"))
    texts += ["", "SSN 123-45-6789", "x" * 3000 + " MRN 12345678 " + "DOB 01/05/1980 " * 40]
    return texts


def _byte_offsets(text: str) -> list[int]:
    """offsets[c] = the UTF-8 byte offset of character c (and of the end)."""
    out = [0]
    for ch in text:
        out.append(out[-1] + len(ch.encode(ENC, ERRORS)))
    return out


def phi_line(text: str, scanner: ReferenceScanner, scrubber: Scrubber) -> str:
    data = text.encode(ENC, ERRORS) if not text.isascii() else text.encode("ascii")
    where = _byte_offsets(text)
    spans = [(tag, where[a], where[b]) for tag, a, b in scanner.find_spans(text)]
    flat = [v for span in spans for v in span]
    h8 = scrubber.tokenizer.h8_spans(data, flat)
    folds = not text.isascii() and fold(text)[0] != text
    scrubbed = "-" if folds else _x(scrubber.scrub(text).encode(ENC, ERRORS))
    fields = ["P", _x(data), str(len(spans)), *map(str, flat), _x(h8), scrubbed]
    return " ".join(fields)


# ---- Ed25519 -----------------------------------------------------------------------------------

RFC8032 = [  # RFC 8032 §7.1 TEST 1-3: seed, message
    ("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60", ""),
    ("4ccd089b28ff96da9db6c346ec114e0f5b8a319f35aba624da8cf6ed4fb8a6fb", "72"),
    ("c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7", "af82"),
]


def _le(n: int) -> bytes:
    return n.to_bytes(32, "little")


def _signed(key: nacl.signing.SigningKey, msg: bytes) -> Item:
    return bytes(key.verify_key), msg, key.sign(msg).signature


def edge_items(rng: random.Random) -> Iterator[Item]:
    """Non-canonical s, R and A; small-order and undecodable points; torsion-carrying keys and
    nonces (libsodium accepts some of those)."""
    key = nacl.signing.SigningKey(bytes([7]) * 32)
    pk, msg = bytes(key.verify_key), b"edge"
    sig = key.sign(msg).signature
    r_enc, s = sig[:32], int.from_bytes(sig[32:], "little")
    yield pk, msg, sig
    for bad_s in (s + em.L, em.L, em.L - 1, 2**256 - 1, s | (1 << 253)):
        yield pk, msg, r_enc + _le(bad_s % 2**256)
    small_y = next(y for y in range(2, 19) if em.x_from_y(y, 0) is not None)
    undecodable = next(y for y in range(2, 100) if em.x_from_y(y, 0) is None)
    encodings = [_le(small_y), _le(small_y + em.P), _le(em.P), _le(em.P + 1),
                 _le(1 | 1 << 255), _le((em.P - 1) | 1 << 255), _le(1 << 255),
                 _le(undecodable), _le(undecodable | 1 << 255)]
    for t in em.TORSION:
        enc = em.encode(t)
        encodings += [enc, enc[:31] + bytes([enc[31] ^ 0x80])]
    for enc in encodings:
        yield enc, msg, sig  # as A
        yield pk, msg, enc + sig[32:]  # as R
        yield enc, msg, enc + bytes(32)
        yield enc, msg, bytes(64)
        yield pk, msg, enc + _le(1)
    for t_key in range(8):
        a = rng.randrange(1, em.L)
        public = em.encode(em.add(em.mul(a, em.BASE), em.TORSION[t_key]))
        for _ in range(12):
            r = rng.randrange(1, em.L)
            nonce = em.add(em.mul(r, em.BASE), em.TORSION[rng.randrange(8)])
            m = rng.randbytes(rng.randrange(40))
            yield public, m, em.sign_with(a, public, nonce, r, m)


def _is_hex(s: str) -> bool:
    return len(s) % 2 == 0 and all(c in "0123456789abcdefABCDEF" for c in s)


def shared_items(shared: Path) -> Iterator[Item]:
    """The signatures of ../shared/vectors (orders, heartbeats) under each of their keys."""
    vectors = shared / "vectors"
    orders = json.loads((vectors / "orders.json").read_text())
    keys = [bytes.fromhex(k["public_key_hex"]) for k in orders["keys"].values()
            if isinstance(k, dict) and "public_key_hex" in k]
    signed: list[tuple[bytes, bytes]] = []
    for case in orders["cases"]:
        for step in case.get("steps", []):
            order = step.get("order", {})
            sig, payload = order.get("signature"), order.get("signed_payload")
            if isinstance(sig, str) and isinstance(payload, str) and _is_hex(sig):
                signed.append((payload.encode(), bytes.fromhex(sig)))
    heartbeat = json.loads((vectors / "heartbeat.json").read_text())
    keys.append(bytes.fromhex(heartbeat["evidence_key"]["public_key_hex"]))
    for case in heartbeat["cases"]:
        digest = hashlib.sha256(case["payload_text"].encode()).digest()
        signed.append((digest, bytes.fromhex(case["heartbeat_signature_hex"])))
    for msg, sig in signed:
        if len(sig) == 64:
            for pk in keys:
                yield pk, msg, sig


def ed_items(shared: Path) -> list[Item]:
    rng = random.Random(21)  # noqa: S311 - test data, reproducible
    items: list[Item] = []
    for seed, msg in RFC8032:
        item = _signed(nacl.signing.SigningKey(bytes.fromhex(seed)), bytes.fromhex(msg))
        items += [item, (item[0], item[1] + b"!", item[2])]
    spec = json.loads((ROOT / "tests" / "crypto" / "data" / "speccheck_cases.json").read_text())
    items += [(bytes.fromhex(c["pub_key"]), bytes.fromhex(c["message"]), bytes.fromhex(c["signature"]))
              for c in spec]
    items += edge_items(rng)
    items += shared_items(shared)
    keys = [nacl.signing.SigningKey(bytes([i + 1]) * 32) for i in range(5)]
    for i in range(150):
        pk, msg, sig = _signed(keys[i % 5], rng.randbytes(rng.randrange(200)))
        if i % 3 == 0:  # one bit flipped in the message, R or s
            where = rng.randrange(3)
            if where == 0 and msg:
                msg = bytes([msg[0] ^ 1]) + msg[1:]
            else:
                k = rng.randrange(32) + (0 if where == 1 else 32)
                sig = sig[:k] + bytes([sig[k] ^ (1 << rng.randrange(8))]) + sig[k + 1:]
        items.append((pk, msg, sig))
    return [it for it in items if len(it[0]) == 32 and len(it[2]) == 64]


def ed_line(item: Item) -> str:
    pk, msg, sig = item
    hram = hashlib.sha512(sig[:32] + pk + msg).digest()
    return " ".join(["E", _x(pk), _x(sig), _x(hram), "1" if verify_ed25519(pk, msg, sig) else "0"])


def lines(shared: Path) -> Iterator[str]:
    yield "# msp-agent native vectors (tools/gen_native_vectors.py): see its docstring"
    scanner, scrubber = ReferenceScanner(), make_scrubber(key=KEY, pure=True)
    for text in phi_texts(shared):
        yield phi_line(text, scanner, scrubber)
    for item in ed_items(shared):
        yield ed_line(item)


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description="Write the C test driver's vectors.")
    parser.add_argument("--shared", type=Path, default=ROOT / ".." / "shared",
                        help="the shared directory (corpus/, vectors/); default ../shared")
    parser.add_argument("out", type=Path, help="the vectors file to write")
    args = parser.parse_args(argv)
    text = "\n".join(lines(args.shared)) + "\n"
    args.out.write_text(text, encoding="ascii")
    counts = {k: sum(1 for ln in text.splitlines() if ln.startswith(k + " ")) for k in "PE"}
    print(f"{args.out}: {counts['P']} PHI cases, {counts['E']} Ed25519 cases")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
