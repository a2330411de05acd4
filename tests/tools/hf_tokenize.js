// Hugging Face's own tokenizer (the `tokenizers` npm package: its Rust library, prebuilt) as a reference:
//   node hf_tokenize.js TOKENIZERS_PACKAGE_DIR TOKENIZER.json TEXT_FILE USED_TEXT_OUT
// Prints the ids of TEXT_FILE's text, space-separated, as tokenizer.encode(text, {addSpecialTokens: false})
// gives them with the special added tokens taken out of the added vocabulary: written in the text, they are
// ordinary text, as core/lm/tokenizer.h (llama.cpp's parse_special = false) reads them. The text is read as
// UTF-8 (an invalid byte becomes U+FFFD); USED_TEXT_OUT receives the text as encoded, in UTF-8. Standard error
// says how long the encoding took (the tokenizer's loading not included).
'use strict';
const fs = require('fs');
const path = require('path');
const [pkg, tokenizerFile, textFile, usedOut] = process.argv.slice(2);
const { Tokenizer } = require(path.resolve(pkg));
const json = JSON.parse(fs.readFileSync(tokenizerFile, 'utf8'));
json.added_tokens = (json.added_tokens || []).filter((t) => !t.special);
const tokenizer = Tokenizer.fromString(JSON.stringify(json));
const text = fs.readFileSync(textFile).toString('utf8');
fs.writeFileSync(usedOut, Buffer.from(text, 'utf8'));
const start = process.hrtime.bigint();
tokenizer.encode(text, null, { addSpecialTokens: false }).then((e) => {
  const ids = e.getIds();
  process.stderr.write(`encoded in ${(Number(process.hrtime.bigint() - start) * 1e-9).toFixed(2)} s\n`);
  process.stdout.write(ids.join(' ') + '\n');
}, (err) => {
  process.stderr.write(String(err) + '\n');
  process.exit(1);
});
