// The device's service files and bundle: the hardened systemd unit (checked by systemd-analyze
// where it is installed), the OpenWrt procd script, the first-boot script, and the one-file
// agent bundle running against a real swtpm.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, type BundleResult } from '../../image-build/bundle.ts';
import { startSwtpm, type SwtpmInstance } from '../../tpm/swtpm.ts';

const run = promisify(execFile);
const IMAGE = new URL('../../image-build/', import.meta.url).pathname;

async function hasCommand(cmd: string): Promise<boolean> {
  return run('sh', ['-c', `command -v ${cmd}`]).then(() => true, () => false);
}

describe('systemd unit', () => {
  it('runs as btn-node in group tss with only the TPM device, strict protection, and none of the known traps', async () => {
    const unit = await readFile(join(IMAGE, 'systemd/btn-node.service'), 'utf8');
    const directives = unit.split('\n').filter((l) => /^\w+=/.test(l));
    for (const want of ['User=btn-node', 'SupplementaryGroups=tss', 'DevicePolicy=closed', 'DeviceAllow=/dev/tpmrm0 rw', 'ProtectSystem=strict',
      'NoNewPrivileges=yes', 'Restart=on-failure', 'StateDirectory=btn-node', 'CapabilityBoundingSet=', 'RestartPreventExitStatus=78', 'SystemCallFilter=@system-service @pkey']) {
      expect(directives, want).toContain(want);
    }
    expect(directives.some((d) => /^MemoryMax=\d+M$/.test(d))).toBe(true);
    // PrivateDevices hides the TPM; MemoryDenyWriteExecute crashes V8's JIT.
    expect(directives.some((d) => d.startsWith('PrivateDevices=yes') || d.startsWith('MemoryDenyWriteExecute=yes'))).toBe(false);
  });

  it('systemd-analyze verify accepts both units', async (ctx) => {
    if (!(await hasCommand('systemd-analyze'))) ctx.skip();
    // It exits 1 for an ExecStart path that exists only inside the image; the messages tell.
    const { stderr } = (await run('systemd-analyze', ['verify', join(IMAGE, 'systemd/btn-node.service'), join(IMAGE, 'systemd/btn-node-firstboot.service')])
      .catch((e: { stderr: string }) => e)) as { stderr: string };
    // Only complaints about the image's paths that do not exist on this build host are acceptable.
    const problems = stderr.split('\n').filter((l) => l.trim() && !/is not executable|No such file|Command .* is not executable|not found/.test(l));
    expect(problems).toEqual([]);
  });

  it('first-boot and procd scripts are valid shell', async () => {
    await run('sh', ['-n', join(IMAGE, 'rootfs/usr/lib/btn-node/firstboot.sh')]);
    const init = await readFile(join(IMAGE, 'procd/btn-node.init'), 'utf8');
    expect(init).toContain('USE_PROCD=1');
    expect(init).toContain('procd_set_param respawn');
    await run('sh', ['-n', join(IMAGE, 'procd/btn-node.init')]);
  });
});

describe('agent bundle', () => {
  let out: string;
  let result: BundleResult;
  let swtpm: SwtpmInstance;
  beforeAll(async () => {
    out = await mkdtemp(join(tmpdir(), 'btn-bundle-'));
    // glibc's binary only, as in the Debian image: koffi must load without the musl one.
    result = await bundle(join(out, 'lib'), undefined, 'glibc');
    swtpm = await startSwtpm({ caDir: join(out, 'ca') });
  });
  afterAll(async () => {
    await swtpm?.destroy();
    await rm(out, { recursive: true, force: true });
  });

  it('is one file that carries neither the devnet broker nor the root node stores', async () => {
    const text = await readFile(join(result.dir, 'btn-node.mjs'), 'utf8');
    // Booleans, not string matchers: a failing matcher would print the whole 600 KB bundle.
    expect(text.includes('Stream-based MQTT broker'), 'aedes is in the bundle').toBe(false);
    expect(/from\s*["']better-sqlite3["']|require\(["']better-sqlite3["']\)|from\s*["']pg["']/.test(text), 'a root-node store is in the bundle').toBe(false);
    expect(result.bundleBytes).toBeGreaterThan(100_000);
    const native = await readdir(join(result.dir, 'node_modules/@koromix', `koffi-linux-${process.arch}`));
    expect(native.some((d) => d.startsWith('musl_')), 'musl binary shipped in a glibc bundle').toBe(false);
  });

  it('runs on its own: --help, tpm init and tpm selftest against swtpm', async () => {
    const node = (args: string[]) => run(process.execPath, [join(result.dir, 'btn-node.mjs'), ...args], { cwd: out });
    expect((await node(['--help'])).stdout).toContain('run one agent');
    const info = JSON.parse((await node(['tpm', 'init', '--tcti', swtpm.tcti])).stdout);
    expect(info.sealingKey.handle.toLowerCase()).toBe('0x81000b70');
    const selftest = JSON.parse((await node(['tpm', 'selftest', '--tcti', swtpm.tcti])).stdout);
    expect(selftest.signature).toMatch(/^[0-9a-f]{512}$/);
    expect(selftest.verified).toBe(true);
  });
});
