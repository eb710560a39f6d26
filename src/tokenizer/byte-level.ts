/**
 * GPT-2's pre-tokenizer split, as the ByteLevel pre-tokenizer of `@huggingface/tokenizers` runs it: contractions,
 * letter runs, digit runs and other-symbol runs (each with at most one leading space), then whitespace.
 */
const BYTE_LEVEL_SPLIT = /'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+/gu;

/**
 * GPT-2's byte-to-character table: printable Latin-1 bytes stand for themselves and the other 68 bytes, in order,
 * for U+0100 onwards, so every byte is one visible character in vocab and merges.
 */
export const BYTE_TO_CHAR: readonly string[] = (() => {
  const chars: string[] = [];
  let shifted = 0;
  for (let byte = 0; byte < 256; byte++) {
    const printable = (byte >= 0x21 && byte <= 0x7e) || (byte >= 0xa1 && byte <= 0xac) || byte >= 0xae;
    chars.push(String.fromCharCode(printable ? byte : 256 + shifted++));
  }
  return chars;
})();

/** The pieces a text is split into before BPE (not yet mapped to byte characters). */
export function preTokenize(text: string): string[] {
  return text.match(BYTE_LEVEL_SPLIT) ?? [];
}
