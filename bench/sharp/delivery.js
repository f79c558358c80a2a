// The job bench/bench_delivery.py times for a /img miss, done with sharp: one 12 MP JPEG to 1280 px wide
// (inside, no enlargement) as WebP q80 effort 4 and as AVIF q60 effort 3 (libavif speed 6, Pillow's default).
// Usage: node delivery.js ROUNDS FILE   Prints one JSON object: per format, milliseconds per round.
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require(path.join(__dirname, 'node_modules', 'sharp'));

const resize = { width: 1280, fit: 'inside', withoutEnlargement: true };
const JOBS = {
  webp: (buf) => sharp(buf).resize(resize).webp({ quality: 80, effort: 4 }),
  avif: (buf) => sharp(buf).resize(resize).avif({ quality: 60, effort: 3 }),
};

async function main() {
  const rounds = Number(process.argv[2]);
  const buf = fs.readFileSync(process.argv[3]);
  const result = { tool: `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips})`, ms: {}, bytes: {} };
  for (const [name, job] of Object.entries(JOBS)) {
    await job(buf).toBuffer(); // warm-up
    result.ms[name] = [];
    for (let i = 0; i < rounds; i += 1) {
      const start = process.hrtime.bigint();
      const out = await job(buf).toBuffer();
      result.ms[name].push(Number(process.hrtime.bigint() - start) / 1e6);
      result.bytes[name] = out.length;
    }
  }
  console.log(JSON.stringify(result));
}

main().catch((error) => { console.error(error); process.exit(1); });
