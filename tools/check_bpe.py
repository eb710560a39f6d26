"""Check a tokenizer.json written by `lithe tokenizer train` against Python `tokenizers`.

1. Trains Python's BpeTrainer on the same corpus with the same settings and compares the two files: whole JSON,
   vocab, and merges (the first index where they diverge).
2. Loads lithe's file in Python and encodes every document of --encode; lithe's loadTokenizer (the JS library)
   encodes the same documents; the ids must be identical, and Python must decode them back to the text.

Run from the repository root after `npm run build`, e.g.:
    node bin/lithe.js tokenizer train --corpus sotu:train --vocab 8192 --out /tmp/tok8k
    .venv/bin/python tools/check_bpe.py --tokenizer /tmp/tok8k/tokenizer.json --corpus sotu:train --vocab 8192
"""

import argparse
import json
import subprocess
import sys
import time

from make_bpe_golden import ENDOFTEXT, ROOT, first_divergence, node_documents, python_bpe
from tokenizers import Tokenizer

LITHE_ENCODE = """
import { loadTextSource } from './dist/src/data/text-source.js';
import { loadTokenizer } from './dist/src/io/tokenizer.js';
const tok = loadTokenizer(process.argv[1]);
const ids = loadTextSource(process.argv[2]).documents.map((doc) => Array.from(tok.encode(doc)));
process.stdout.write(JSON.stringify({ ids, bos: tok.bosTokenId, eos: tok.eosTokenId, vocabSize: tok.vocabSize }));
"""


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--tokenizer", required=True, help="tokenizer.json written by lithe tokenizer train")
    parser.add_argument("--corpus", required=True, help="the --corpus it was trained on")
    parser.add_argument("--vocab", type=int, required=True)
    parser.add_argument("--min-frequency", type=int, default=0)
    parser.add_argument("--special", action="append", help="special tokens (default <|endoftext|>)")
    parser.add_argument("--encode", default="sotu:val", help="documents to encode with both libraries")
    args = parser.parse_args()
    specials = args.special or [ENDOFTEXT]
    ok = True

    lithe = json.loads(open(args.tokenizer, encoding="utf-8").read())
    start = time.perf_counter()
    python = json.loads(python_bpe(node_documents(args.corpus), args.vocab, args.min_frequency, specials).to_str())
    print(f"Python BpeTrainer on {args.corpus} to {args.vocab}: {time.perf_counter() - start:.1f}s")
    lithe_merges, python_merges = lithe["model"]["merges"], python["model"]["merges"]
    divergence = first_divergence(lithe_merges, python_merges)
    print(f"merges: lithe {len(lithe_merges)}, Python {len(python_merges)}; "
          + ("identical" if divergence is None else f"first differ at index {divergence}: "
             f"lithe {lithe_merges[divergence:divergence + 1]} vs Python {python_merges[divergence:divergence + 1]}"))
    print(f"vocab identical: {lithe['model']['vocab'] == python['model']['vocab']}; whole tokenizer.json identical: "
          f"{lithe == python}")

    tok = Tokenizer.from_file(args.tokenizer)
    documents = node_documents(args.encode)
    python_ids = [tok.encode(doc, add_special_tokens=False).ids for doc in documents]
    out = subprocess.run(["node", "--input-type=module", "-e", LITHE_ENCODE, args.tokenizer, args.encode], cwd=ROOT,
                         check=True, capture_output=True, text=True).stdout
    js = json.loads(out)
    same = [a == b for a, b in zip(js["ids"], python_ids)]
    tokens = sum(len(ids) for ids in python_ids)
    print(f"{args.encode}: {len(documents)} documents, {tokens} tokens; JS ids == Python ids in {sum(same)}"
          f"/{len(documents)} documents")
    ok &= all(same) and len(js["ids"]) == len(python_ids)
    round_trip = all(tok.decode(ids, skip_special_tokens=False) == doc for ids, doc in zip(python_ids, documents))
    print(f"Python decode round-trips every document: {round_trip}")
    endoftext = tok.token_to_id(ENDOFTEXT)
    print(f"lithe loadTokenizer: vocabSize {js['vocabSize']} (Python {tok.get_vocab_size(with_added_tokens=True)}), "
          f"bos {js['bos']}, eos {js['eos']} ({ENDOFTEXT} is {endoftext})")
    ok &= round_trip and js["vocabSize"] == tok.get_vocab_size(with_added_tokens=True)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
