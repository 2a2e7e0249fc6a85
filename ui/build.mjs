// Builds the web UI into dist/ (committed; embedded in the `squall` binary
// by crates/squall-cluster/src/ui.rs): one JS bundle, one CSS file, the
// page. `node build.mjs --out DIR` builds elsewhere (scripts/build-ui.sh
// --check compares that with dist/).
import { build } from 'esbuild';
import { copyFileSync, mkdirSync, rmSync } from 'node:fs';

const at = process.argv.indexOf('--out');
const out = at > 0 ? process.argv[at + 1] : 'dist';
rmSync(out, { recursive: true, force: true });
mkdirSync(out, { recursive: true });
await build({
  entryPoints: { app: 'src/main.js' },
  bundle: true,
  minify: true,
  format: 'iife',
  target: ['es2020'],
  outdir: out,
  legalComments: 'eof',
  logLevel: 'warning',
});
copyFileSync('src/index.html', `${out}/index.html`);
copyFileSync('src/favicon.svg', `${out}/favicon.svg`);
