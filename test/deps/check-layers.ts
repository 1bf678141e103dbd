// The dependency rules of the layout (docs/layers.md): imports only point down, no two files
// depend on each other through any path (type-only imports included: they are still a
// dependency of the design), and the device bundle's entry reaches neither the devnet, the
// registrar nor the swtpm launcher. Our sources always name the imported file with a relative path
// and its extension, so reading the import statements is exact (the same edges as
// dependency-cruiser's swc parser; docs/layers.md says why that tool is not used).
// Usage: node --import tsx test/deps/check-layers.ts [ROOT]   (exit 1 and one line per violation)
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

export type Layer = 'core' | 'protocol' | 'tpm' | 'swtpm' | 'device' | 'host-entry' | 'registrar' | 'devnet' | 'build' | 'test';

/** Which layer a file (path relative to the root, with /) belongs to; null when outside every layer. */
export function layerOf(path: string): Layer | null {
  if (path.startsWith('firmware/core/')) return 'core';
  if (path.startsWith('firmware/protocol/')) return 'protocol';
  if (path === 'tpm/swtpm.ts') return 'swtpm';
  if (path.startsWith('tpm/')) return 'tpm';
  // The simulator is host tooling like the devnet (it measures message sizes with the registrar's signer).
  if (path.startsWith('firmware/devnet/') || path.startsWith('firmware/simulation/')) return 'devnet';
  if (path === 'firmware/cli/main.ts' || path.startsWith('firmware/bin/')) return 'host-entry';
  if (path.startsWith('firmware/')) return 'device';
  if (path.startsWith('provisioning/')) return 'registrar';
  if (path.startsWith('image-build/')) return 'build';
  if (path.startsWith('test/')) return 'test';
  return null;
}

/** What each layer may import (besides itself). */
export const ALLOWED: Readonly<Record<Layer, readonly Layer[]>> = {
  core: [],
  protocol: ['core'],
  tpm: ['core'],
  // The swtpm launcher is test and host tooling beside the binding, never part of a device.
  swtpm: ['core', 'tpm'],
  device: ['core', 'protocol', 'tpm'],
  registrar: ['core', 'protocol', 'tpm'],
  devnet: ['core', 'protocol', 'tpm', 'swtpm', 'device', 'registrar'],
  'host-entry': ['core', 'protocol', 'tpm', 'device', 'devnet'],
  build: ['core', 'protocol', 'tpm', 'swtpm', 'device', 'registrar', 'devnet'],
  test: ['core', 'protocol', 'tpm', 'swtpm', 'device', 'registrar', 'devnet', 'host-entry', 'build'],
};

const SOURCE = /\.(ts|js|mjs)$/;
// Static imports and re-exports with a from clause, bare side-effect imports, and dynamic imports
// with a literal specifier.
const SPECIFIERS = /(?:^|[\s;])(?:import|export)\s[^'"`;]*?from\s*['"]([^'"]+)['"]|(?:^|[\s;])import\s*['"]([^'"]+)['"]|\bimport\(\s*['"]([^'"]+)['"]\s*\)/gm;

/** The esbuild entry of the device bundle (image-build/bundle.ts): what it reaches ships on every device. */
export const DEVICE_ENTRY = 'firmware/cli/device-main.ts';
/** Layers the device bundle must not carry, even through a chain of allowed-looking imports. */
const NOT_IN_DEVICE_BUNDLE: readonly Layer[] = ['devnet', 'registrar', 'swtpm'];

export interface Violation {
  readonly kind: 'layer' | 'cycle' | 'unresolved' | 'bundle';
  readonly message: string;
}

function walk(dir: string, out: string[]): void {
  for (const entry of readdirSync(dir)) {
    if (entry === 'node_modules' || entry === 'dist' || entry === 'out' || entry.startsWith('.')) continue;
    const p = join(dir, entry);
    // test/deps holds sample sources inside string literals, which are not imports
    if (statSync(p).isDirectory()) {
      if (!p.endsWith(`${sep}test${sep}deps`)) walk(p, out);
    }
    else if (SOURCE.test(entry)) out.push(p);
  }
}

/** Relative import specifiers of one source text (comments are not stripped: keep examples out of them). */
export function importsOf(text: string): string[] {
  const found: string[] = [];
  for (const m of text.matchAll(SPECIFIERS)) {
    const spec = m[1] ?? m[2] ?? m[3];
    if (spec !== undefined && spec.startsWith('.')) found.push(spec);
  }
  return found;
}

/** Checks every source file under root's layer folders; returns the violations, empty when clean. */
export function checkLayers(root: string): Violation[] {
  const files: string[] = [];
  for (const top of ['firmware', 'tpm', 'provisioning', 'image-build', 'test']) {
    try {
      walk(join(root, top), files);
    } catch {
      // a fixture tree may hold only some of the folders
    }
  }
  const rel = (p: string): string => relative(root, p).split(sep).join('/');
  const graph = new Map<string, string[]>();
  const violations: Violation[] = [];
  for (const file of files) {
    const from = rel(file);
    const edges: string[] = [];
    for (const spec of importsOf(readFileSync(file, 'utf8'))) {
      const target = resolve(dirname(file), spec);
      let exists = false;
      try {
        exists = statSync(target).isFile();
      } catch {
        exists = false;
      }
      const to = rel(target);
      if (!exists) {
        violations.push({ kind: 'unresolved', message: `${from} -> ${spec}: no such file` });
        continue;
      }
      // a file may name the same module twice (a type import and a value import): one edge, one report
      if (edges.includes(to)) continue;
      edges.push(to);
      const a = layerOf(from);
      const b = layerOf(to);
      if (a === null || b === null || a === b) continue;
      if (!ALLOWED[a].includes(b)) violations.push({ kind: 'layer', message: `${from} -> ${to}: layer ${a} may not import layer ${b}` });
    }
    graph.set(from, edges);
  }
  violations.push(...cycles(graph));
  violations.push(...bundleReach(graph, DEVICE_ENTRY));
  return violations;
}

/**
 * Files of a forbidden layer the entry reaches, each with the import path that reaches it
 * (breadth-first, so the shortest). The search stops at a forbidden file: one report per way in.
 */
export function bundleReach(graph: ReadonlyMap<string, readonly string[]>, entry: string): Violation[] {
  if (!graph.has(entry)) return [];
  const prev = new Map<string, string | null>([[entry, null]]);
  const queue = [entry];
  const out: Violation[] = [];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (prev.has(w)) continue;
      prev.set(w, v);
      const layer = layerOf(w);
      if (layer !== null && NOT_IN_DEVICE_BUNDLE.includes(layer)) {
        const path = [w];
        for (let x = prev.get(w) ?? null; x !== null; x = prev.get(x) ?? null) path.unshift(x);
        out.push({ kind: 'bundle', message: `${path.join(' -> ')}: the device bundle may not carry layer ${layer}` });
      } else queue.push(w);
    }
  }
  return out;
}

/** Every strongly connected group of files (Tarjan), reported once with one cycle path through it. */
function cycles(graph: ReadonlyMap<string, readonly string[]>): Violation[] {
  let index = 0;
  const idx = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const out: Violation[] = [];
  const visit = (v: string): void => {
    idx.set(v, index);
    low.set(v, index++);
    stack.push(v);
    onStack.add(v);
    for (const w of graph.get(v) ?? []) {
      if (!idx.has(w)) {
        visit(w);
        low.set(v, Math.min(low.get(v)!, low.get(w)!));
      } else if (onStack.has(w)) low.set(v, Math.min(low.get(v)!, idx.get(w)!));
    }
    if (low.get(v) === idx.get(v)) {
      const group: string[] = [];
      let w: string;
      do {
        w = stack.pop()!;
        onStack.delete(w);
        group.push(w);
      } while (w !== v);
      const selfLoop = (graph.get(v) ?? []).includes(v);
      if (group.length > 1 || selfLoop) out.push({ kind: 'cycle', message: `import cycle: ${cyclePath(graph, new Set(group), v).join(' -> ')}` });
    }
  };
  for (const v of graph.keys()) if (!idx.has(v)) visit(v);
  return out;
}

/** One concrete cycle from start back to start inside the group (breadth-first). */
function cyclePath(graph: ReadonlyMap<string, readonly string[]>, group: ReadonlySet<string>, start: string): string[] {
  const prev = new Map<string, string>();
  const queue = [start];
  while (queue.length > 0) {
    const v = queue.shift()!;
    for (const w of graph.get(v) ?? []) {
      if (!group.has(w)) continue;
      if (w === start) {
        const path = [start];
        for (let x: string | undefined = v; x !== undefined && x !== start; x = prev.get(x)) path.splice(1, 0, x);
        return [...path, start];
      }
      if (!prev.has(w)) {
        prev.set(w, v);
        queue.push(w);
      }
    }
  }
  return [start, start];
}

if (process.argv[1] !== undefined && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '../..'));
  const found = checkLayers(root);
  for (const v of found) process.stderr.write(`${v.kind}: ${v.message}\n`);
  process.stdout.write(found.length === 0 ? 'dependency rules: no wrong-way import, no cycle, nothing host-only in the device bundle\n' : `dependency rules: ${found.length} violation(s)\n`);
  process.exitCode = found.length === 0 ? 0 : 1;
}
