"""Golden files for test/tokenizer/bpe-trainer.test.ts: lithe's byte-level BPE trainer against Python `tokenizers`.

Writes under test/golden/bpe/:
- corpus.jsonl: the training corpus, slices of sotu:train addresses plus a few edge-case documents
  (unicode, emoji, digits, apostrophes, whitespace runs, repeated characters), one {"text"} per line;
- python-<name>.json: the tokenizer.json Python's BpeTrainer trains on that corpus for each config in CONFIGS, so the
  test can compare lithe's trainer with it field for field (vocab, merges, added tokens, pre-tokenizer...);
- encodings.json: Python `tokenizers`' ids and decoded text for PROBES under the tokenizer.json that lithe's CLI
  trains on the corpus (the "vocab1000" config), so `npm test` checks the JS and Python libraries agree without Python.

Run from the repository root after `npm run build`:
    .venv/bin/python tools/make_bpe_golden.py
"""

import json
import random
import subprocess
import tempfile
from pathlib import Path

import tokenizers
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

ROOT = Path(__file__).resolve().parent.parent
OUT_DIR = ROOT / "test" / "golden" / "bpe"
ENDOFTEXT = "<|endoftext|>"

# Training configs: name -> (vocab_size, min_frequency, special tokens). "vocab1000" stops at the vocabulary size
# with many ties among its last merges; "min-frequency" stops when no pair occurs 6 times, with two special tokens.
CONFIGS = {
    "vocab1000": (1000, 0, [ENDOFTEXT]),
    "min-frequency": (100_000, 6, [ENDOFTEXT, "<|pad|>"]),
}

EDGE_DOCUMENTS = [
    "I'm sure you're right: they'd say it's theirs, we'll see, and I've LEARNED 'S and 'RE aren't contractions.\n",
    "Numbers: 1790, 1,000,000 and 3.14159; 2024-06-01 at 12:30; 0x1F and 007 agents; ½ ¾ ² ³ ٣ ४.\n",
    "héllo wörld, naïve café résumé — “quotes” and ‘single’ quotes… Ελληνικά, Русский, 中文字符, 日本語, 한국어.\n",
    "emoji 😀👍🏽 family 👨‍👩‍👧‍👦 flags 🇺🇸🇫🇷 and symbols ∑∫√∞ ≤ ≥ ≠ © ® ™ € £ ¥.\n",
    "tabs\tand\ttabs,    runs of    spaces,\n\n\nblank lines,\r\nwindows lines\rand trailing spaces   \n   \n",
    "odd spaces:\u00a0nbsp \u2028 line-sep \u3000 ideographic \ufeff bom x\u0085 y \u200b zero-width\n",
    "aaaa aaaaaa aaaaaaaaa ---- ======== ........ !!!??? zzzzzzzzzzzz hmmmmmm\n",
    "def f(x):\n    return x ** 2  # code with <tags> & [brackets] {braces} | pipes\n",
]

PROBES = [
    "", " ", "  ", "\n", "\n\n\n", "\t", "\r\n", "a", " a", "a ", "   leading", "trailing   ",
    "multiple    spaces  between", "tabs\tand\ttabs", "line one\r\nline two\rline three", " " * 40, "\n" * 12,
    " \n \n ", "x" * 300, "aaaaaaaaaaaaa", "Pneumonoultramicroscopicsilicovolcanoconiosis",
    "héllo wörld", "naïve café résumé", "Ελληνικά γράμματα", "Русский текст", "中文字符测试", "日本語のテキスト",
    "한국어 문장", "العربية", "emoji 😀👍🏽", "family 👨‍👩‍👧‍👦", "flags 🇺🇸🇫🇷", "e\u0301 combining", "zero\u200bwidth",
    "non\u00a0breaking", "ideographic\u3000space", "a\ufeff b", "x\u0085 y", "a \u2028b", "a\u00a0 b", "\u3000 a",
    "control\x00\x01\x7f", "∑∫√∞ ≤ ≥ ≠", "1234567890",
    "3.14159 2,718 1,000,000", "in 1790 and 1999", "I'm you're he's we'll they'd can't won't", "'s 'S 'RE 'll 'VE",
    "!!!???...;;;", "—dash–en—", "$100 & 50% @home #tag", "https://example.com/path?q=1&r=2",
    "def f(x):\n    return x ** 2\n", ENDOFTEXT, f"a{ENDOFTEXT}b", f"{ENDOFTEXT}{ENDOFTEXT}", f" {ENDOFTEXT} ",
    "<|endoftext", "<|ENDOFTEXT|>", f"text{ENDOFTEXT}\n\nnext document", "MR. SPEAKER, MR. PRESIDENT",
    "Fellow-Citizens of the Senate and House of Representatives:",
]


def node_documents(source: str) -> list[str]:
    """A source's documents exactly as lithe's loadTextSource reads them (needs dist/, from `npm run build`)."""
    script = (
        "import { loadTextSource } from './dist/src/data/text-source.js';"
        "process.stdout.write(JSON.stringify(loadTextSource(process.argv[1]).documents));"
    )
    out = subprocess.run(["node", "--input-type=module", "-e", script, source], cwd=ROOT, check=True,
                         capture_output=True, text=True).stdout
    return json.loads(out)


def python_bpe(documents: list[str], vocab_size: int, min_frequency: int, special_tokens: list[str]) -> Tokenizer:
    """The tokenizer Python `tokenizers` trains with the settings lithe's trainer reproduces."""
    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=min_frequency,
        special_tokens=special_tokens,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(documents, trainer)
    return tok


def lithe_train(corpus: str, vocab_size: int, out_dir: str, min_frequency: int = 0,
                special_tokens: list[str] | None = None) -> Path:
    """Train with lithe's CLI; returns the tokenizer.json it wrote."""
    specials = [arg for token in special_tokens or [] for arg in ("--special", token)]
    subprocess.run(["node", "bin/lithe.js", "tokenizer", "train", "--corpus", corpus, "--vocab", str(vocab_size),
                    "--out", out_dir, "--min-frequency", str(min_frequency), *specials],
                   cwd=ROOT, check=True, capture_output=True, text=True)
    return Path(out_dir) / "tokenizer.json"


def first_divergence(a: list, b: list) -> int | None:
    """The first index where two lists differ (the shorter length when one is a prefix), or None when equal."""
    index = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
    return None if index == len(a) == len(b) else index


def training_corpus() -> list[str]:
    """Every 16th address of sotu:train, cut after its last sentence within 5000 characters, then EDGE_DOCUMENTS."""
    addresses = node_documents("sotu:train")[::16]
    slices = [doc[: doc.rfind(". ", 0, 5000) + 1] + "\n" for doc in addresses]
    return slices + EDGE_DOCUMENTS


def main() -> None:
    OUT_DIR.mkdir(parents=True, exist_ok=True)
    documents = training_corpus()
    corpus_file = OUT_DIR / "corpus.jsonl"
    corpus_file.write_text("".join(json.dumps({"text": d}, ensure_ascii=False) + "\n" for d in documents),
                           encoding="utf-8")
    # The test reads the corpus through lithe's .jsonl reader; it must give back these exact documents.
    assert node_documents(str(corpus_file.relative_to(ROOT))) == documents

    with tempfile.TemporaryDirectory() as tmp:
        for name, (vocab_size, min_frequency, specials) in CONFIGS.items():
            python = json.loads(python_bpe(documents, vocab_size, min_frequency, specials).to_str())
            (OUT_DIR / f"python-{name}.json").write_text(json.dumps(python, ensure_ascii=False) + "\n",
                                                         encoding="utf-8")
            lithe_file = lithe_train(str(corpus_file), vocab_size, str(Path(tmp) / name), min_frequency, specials)
            lithe = json.loads(lithe_file.read_text(encoding="utf-8"))
            divergence = first_divergence(lithe["model"]["merges"], python["model"]["merges"])
            print(f"{name}: {len(python['model']['merges'])} merges; lithe == Python: {lithe == python}"
                  f"{'' if divergence is None else f', merges first differ at {divergence}'}")
            if name == "vocab1000":
                lithe_tokenizer = Tokenizer.from_file(str(lithe_file))

    rng = random.Random(20240601)
    val = node_documents("sotu:val")
    snippets = []
    for _ in range(30):
        doc = rng.choice(val)
        start = rng.randrange(len(doc))
        snippets.append(doc[start : start + rng.randrange(20, 400)])
    cases = []
    for text in PROBES + snippets:
        ids = lithe_tokenizer.encode(text, add_special_tokens=False).ids
        case = {"text": text, "ids": ids}
        decoded = lithe_tokenizer.decode(ids, skip_special_tokens=False)
        if decoded != text:
            case["decoded"] = decoded
        cases.append(case)
    golden = {
        "generator": "tools/make_bpe_golden.py",
        "tokenizers": tokenizers.__version__,
        "config": "vocab1000",
        "vocab_size": lithe_tokenizer.get_vocab_size(with_added_tokens=True),
        "cases": cases,
    }
    (OUT_DIR / "encodings.json").write_text(json.dumps(golden, ensure_ascii=False) + "\n", encoding="utf-8")
    sizes = ", ".join(f"{f.name} {f.stat().st_size // 1024} KB" for f in sorted(OUT_DIR.iterdir()))
    print(f"{OUT_DIR}: {sizes}")


if __name__ == "__main__":
    main()
