// The job bench/bench_imaging.py times for pixelflow, done with sharp at its defaults:
// thumbnail 128x128 cover, full-size, 1024 and 512 inside; all WebP quality 80, effort 4.
// Usage: node bench.js FILE...   Prints one JSON object. The first file is a warm-up and is not timed.
'use strict';
const fs = require('fs');
const path = require('path');
const sharp = require(path.join(__dirname, 'node_modules', 'sharp'));

const webp = { quality: 80, effort: 4 };
const inside = (side) => ({ width: side, height: side, fit: 'inside', withoutEnlargement: true });
const OUTPUTS = [
  ['webp', (buf) => sharp(buf).webp(webp)],
  ['w1024', (buf) => sharp(buf).resize(inside(1024)).webp(webp)],
  ['w512', (buf) => sharp(buf).resize(inside(512)).webp(webp)],
];

async function job(buf) {
  const start = process.hrtime.bigint();
  const thumbnail = await sharp(buf).resize(128, 128, { fit: 'cover' }).webp(webp).toBuffer();
  const thumbnailMs = Number(process.hrtime.bigint() - start) / 1e6;
  const bytes = { thumbnail: thumbnail.length };
  // One after another, as pixelflow does on one core; Promise.all was no faster pinned to one core.
  for (const [name, pipeline] of OUTPUTS) {
    bytes[name] = (await pipeline(buf).toBuffer()).length;
  }
  return { ms: Number(process.hrtime.bigint() - start) / 1e6, thumbnailMs, bytes };
}

async function main() {
  const buffers = process.argv.slice(2).map((file) => fs.readFileSync(file));
  await job(buffers[0]);
  const results = [];
  for (const buf of buffers) results.push(await job(buf));
  console.log(JSON.stringify({
    tool: `sharp ${sharp.versions.sharp} (libvips ${sharp.versions.vips}, libwebp ${sharp.versions.webp})`,
    concurrency: sharp.concurrency(),
    images: results,
    peakRssBytes: process.resourceUsage().maxRSS * 1024,
  }));
}

main().catch((error) => { console.error(error); process.exit(1); });
