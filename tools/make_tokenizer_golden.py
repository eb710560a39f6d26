"""Golden token ids from Python `tokenizers` for test/io/tokenizer.test.ts.

Encodes a fixed sample of texts with the llama-ref tokenizer.json: lines of the embedded corpora plus unicode,
whitespace, emoji and special-token edge cases; and, for whole documents, the id count and a SHA-256 of the ids
(int32 little-endian), so every id of those documents is compared without storing them.

Run from the repository root (after npm install, which brings the corpora):
    .venv/bin/python tools/make_tokenizer_golden.py [path/to/tokenizer.json]
"""

import hashlib
import json
import random
import struct
import sys
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer

ROOT = Path(__file__).resolve().parent.parent
SOURCE = Path(sys.argv[1] if len(sys.argv) > 1 else "/work/shared/models/llama-ref/tokenizer.json")
OUT_DIR = ROOT / "test" / "golden" / "tokenizer"

EDGE_CASES = [
    "", " ", "  ", "\n", "\n\n\n", "\t", "\r\n", "a", " a", "a ", "   leading", "trailing   ",
    "multiple    spaces  between", "tabs\tand\ttabs", "line one\r\nline two\rline three",
    " " * 40, "\n" * 12, " \n \n ", "x" * 300, "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "héllo wörld", "naïve café résumé", "Ελληνικά γράμματα", "Русский текст", "中文字符测试", "日本語のテキスト",
    "한국어 문장", "العربية", "עברית", "हिन्दी", "emoji 😀👍🏽", "family 👨‍👩‍👧‍👦", "flags 🇺🇸🇫🇷",
    "e\u0301 combining", "zero\u200bwidth", "non\u00a0breaking", "\ufeffbom", "ideographic\u3000space",
    "line\u2028separator", "control\x00\x01\x7f", "∑∫√∞ ≤ ≥ ≠", "1234567890", "3.14159 2,718 1,000,000",
    "I'm you're he's we'll they'd can't won't", "'s 'S 'RE 'll 'VE", "!!!???...;;;", "—dash–en—",
    "$100 & 50% @home #tag", "https://example.com/path?q=1&r=2", "def f(x):\n    return x ** 2\n",
    "<|endoftext|>", "a<|endoftext|>b", "<|endoftext|><|endoftext|>", " <|endoftext|> ", "<|endoftext",
    "<|ENDOFTEXT|>", "text<|endoftext|>\n\nnext document", "MR. SPEAKER, MR. PRESIDENT",
]

# Texts whose ids are also checked with add_special_tokens=True (Python's default).
SPECIAL_CASES = ["Hello world", "", "<|endoftext|>", "The State of the Union"]


def text_resources(pkg: str) -> list[tuple[str, str]]:
    """The plain-text files a stdlib dataset lists in datapackage.json, in order (as src/data/corpora.ts reads them)."""
    root = ROOT / "node_modules" / "@stdlib" / pkg
    resources = json.loads((root / "datapackage.json").read_text(encoding="utf-8"))["resources"]
    return [(r["path"], (root / r["path"]).read_text(encoding="utf-8")) for r in resources if r["format"] == "text"]


def corpora() -> dict[str, list[str]]:
    addresses = [(int(Path(path).name[:4]), text) for path, text in text_resources("datasets-sotu")]
    moby = "\n".join(text for _, text in text_resources("datasets-moby-dick"))
    cut = len(moby) * 9 // 10
    return {
        "sotu:train": [t for y, t in addresses if y < 2000],
        "sotu:val": [t for y, t in addresses if 2000 <= y < 2010],
        "sotu:test": [t for y, t in addresses if y >= 2010],
        "moby:train": [moby[:cut]],
        "moby:test": [moby[cut:]],
    }


def ids_digest(ids: list[int]) -> str:
    return hashlib.sha256(struct.pack(f"<{len(ids)}i", *ids)).hexdigest()


def main() -> None:
    tok = Tokenizer.from_file(str(SOURCE))
    rng = random.Random(20240601)
    splits = corpora()

    # Corpus samples: Moby Dick lines and word-aligned snippets of addresses from every split.
    moby_lines = [line for doc in splits["moby:train"] + splits["moby:test"] for line in doc.split("\n") if line.strip()]
    samples = rng.sample(moby_lines, 120)
    for name in ("sotu:train", "sotu:val", "sotu:test"):
        docs = splits[name]
        for _ in range(60 if name == "sotu:train" else 40):
            doc = rng.choice(docs)
            start = rng.randrange(len(doc))
            end = min(len(doc), start + rng.randrange(20, 400))
            samples.append(doc[start:end])

    cases = []
    for text in EDGE_CASES + samples:
        ids = tok.encode(text, add_special_tokens=False).ids
        case = {"text": text, "ids": ids}
        decoded = tok.decode(ids, skip_special_tokens=False)
        if decoded != text:
            case["decoded"] = decoded
        cases.append(case)

    # Decoding part of a multi-byte character gives U+FFFD, as Rust's from_utf8_lossy does.
    emoji_ids = tok.encode("😀👍🏽 中", add_special_tokens=False).ids
    decode_cases = [{"ids": emoji_ids[:k], "text": tok.decode(emoji_ids[:k])} for k in range(1, len(emoji_ids) + 1)]
    decode_cases.append({"ids": [0, *emoji_ids, 0], "text": tok.decode([0, *emoji_ids, 0], skip_special_tokens=True), "skip": True})

    documents = {}
    for name in ("sotu:test", "moby:test"):
        encoded = [tok.encode(doc, add_special_tokens=False).ids for doc in splits[name]]
        documents[name] = [{"count": len(ids), "sha256": ids_digest(ids)} for ids in encoded]

    golden = {
        "generator": "tools/make_tokenizer_golden.py",
        "tokenizers": tokenizers.__version__,
        "vocab_size": tok.get_vocab_size(with_added_tokens=True),
        "cases": cases,
        "special_cases": [{"text": t, "ids": tok.encode(t, add_special_tokens=True).ids} for t in SPECIAL_CASES],
        "decode_cases": decode_cases,
        "documents": documents,
    }
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    (OUT_DIR / "tokenizer.json").write_bytes(SOURCE.read_bytes())
    out = OUT_DIR / "llama-ref-ids.json"
    out.write_text(json.dumps(golden, ensure_ascii=False, separators=(",", ":")) + "\n", encoding="utf-8")
    print(f"{out}: {len(cases)} texts, {out.stat().st_size} bytes")


if __name__ == "__main__":
    main()
