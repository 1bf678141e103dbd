// The device's service files and bundle: the hardened systemd unit (checked by systemd-analyze
// where it is installed), the status page's socket on port 80 and its DNS-SD announcement, the
// OpenWrt procd script, the first-boot script, and the one-file agent bundle running against a
// real swtpm.
import { execFile } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundle, type BundleResult } from '../../image-build/bundle.ts';
import { SYSTEM_PACKAGES, WIRELESS_NETWORK } from '../../image-build/install-agent.ts';
import { STATUS_SOCKET_NAME } from '../../firmware/status/index.ts';
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

  it('systemd-analyze verify accepts the units and the socket', async (ctx) => {
    if (!(await hasCommand('systemd-analyze'))) ctx.skip();
    // It exits 1 for an ExecStart path that exists only inside the image; the messages tell.
    const units = ['btn-node.service', 'btn-node-firstboot.service', 'btn-node-health.service', 'btn-node.socket', 'btn-node-update.path', 'btn-node-update.service', 'btn-node-address.service'].map((u) => join(IMAGE, 'systemd', u));
    const { stderr } = (await run('systemd-analyze', ['verify', ...units])
      .catch((e: { stderr: string }) => e)) as { stderr: string };
    // Only complaints about the image's paths that do not exist on this build host are acceptable.
    const problems = stderr.split('\n').filter((l) => l.trim() && !/is not executable|No such file|Command .* is not executable|not found/.test(l));
    expect(problems).toEqual([]);
  });

  it('first-boot and procd scripts are valid shell', async () => {
    await run('sh', ['-n', join(IMAGE, 'rootfs/usr/lib/btn-node/firstboot.sh')]);
    await run('sh', ['-n', join(IMAGE, 'rootfs/usr/lib/btn-node/announce-address.sh')]);
    await run('sh', ['-n', join(IMAGE, 'rootfs/usr/lib/btn-node/firstboot-network.sh')]);
    // A value refused in btn-node.txt is said on the device's screen, not only in the journal.
    const firstboot = await readFile(join(IMAGE, 'systemd/btn-node-firstboot.service'), 'utf8');
    expect(firstboot).toMatch(/^StandardError=journal\+console$/m);
    const init = await readFile(join(IMAGE, 'procd/btn-node.init'), 'utf8');
    expect(init).toContain('USE_PROCD=1');
    expect(init).toContain('procd_set_param respawn');
    await run('sh', ['-n', join(IMAGE, 'procd/btn-node.init')]);
  });
});

describe('the status page on port 80, found by name', () => {
  it('is a socket systemd binds and passes by the name the agent looks for, so the agent keeps no capability', async () => {
    const socket = await readFile(join(IMAGE, 'systemd/btn-node.socket'), 'utf8');
    const directives = socket.split('\n').filter((l) => /^\w+=/.test(l));
    expect(directives).toEqual(expect.arrayContaining(['ListenStream=80', `FileDescriptorName=${STATUS_SOCKET_NAME}`, 'Service=btn-node.service', 'WantedBy=sockets.target']));
    expect(directives.some((d) => d.startsWith('Accept=yes'))).toBe(false);
    const unit = await readFile(join(IMAGE, 'systemd/btn-node.service'), 'utf8');
    expect(unit).not.toMatch(/CAP_NET_BIND_SERVICE|ip_unprivileged_port_start/);
    expect(unit).toMatch(/^CapabilityBoundingSet=$/m);
  });

  it('the config the set-up script writes, the socket and the DNS-SD services name the same port', async () => {
    const port = (text: string, re: RegExp): number[] => [...text.matchAll(re)].map((m) => Number(m[1]));
    const firstboot = await readFile(join(IMAGE, 'rootfs/usr/lib/btn-node/firstboot.sh'), 'utf8');
    const socket = await readFile(join(IMAGE, 'systemd/btn-node.socket'), 'utf8');
    const avahi = await readFile(join(IMAGE, 'rootfs/etc/avahi/services/btn-node.service'), 'utf8');
    expect(port(firstboot, /"status": \{ "port": (\d+) \}/g)).toEqual([80]);
    expect(port(socket, /^ListenStream=(\d+)$/gm)).toEqual([80]);
    expect(port(avahi, /<port>(\d+)<\/port>/g)).toEqual([80, 80]);
    expect([...avahi.matchAll(/<type>([^<]+)<\/type>/g)].map((m) => m[1])).toEqual(['_http._tcp', '_btn-node._tcp']);
    // DNS-SD service names: at most 15 letters, digits and hyphens (RFC 6335 §5.1).
    expect('btn-node'.length).toBeLessThanOrEqual(15);
    expect(avahi).toMatch(/<name replace-wildcards="yes">[^<]*%h<\/name>/);
  });

  it('the DNS-SD file is well-formed XML (avahi skips a file it cannot parse)', async (ctx) => {
    // expat through Python: Node has no XML parser, and xmllint is not on every build host.
    if (!(await hasCommand('python3'))) ctx.skip();
    const file = join(IMAGE, 'rootfs/etc/avahi/services/btn-node.service');
    const { stdout } = await run('python3', ['-c', 'import sys, xml.dom.minidom as m; d = m.parse(sys.argv[1]); print(len(d.getElementsByTagName("service")))', file]);
    expect(stdout.trim()).toBe('2');
  });

  it('avahi starts after the set-up script, which sets the name it announces', async (ctx) => {
    const dropIn = await readFile(join(IMAGE, 'systemd/avahi-daemon-btn-node.conf'), 'utf8');
    expect(dropIn).toMatch(/^\[Unit\]\nAfter=btn-node-firstboot\.service$/m);
    if (!(await hasCommand('systemd-analyze'))) ctx.skip();
    // The drop-in parses as a unit file.
    const dir = await mkdtemp(join(tmpdir(), 'btn-avahi-'));
    try {
      await writeFile(join(dir, 'btn-avahi-probe.service'), `${dropIn}\n[Service]\nType=oneshot\nExecStart=/bin/true\n`);
      const { stderr } = (await run('systemd-analyze', ['verify', join(dir, 'btn-avahi-probe.service')]).catch((e: { stderr: string }) => e)) as { stderr: string };
      expect(stderr.split('\n').filter((l) => l.trim() && !/btn-node-firstboot/.test(l))).toEqual([]);
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('installs the packages for Wi-Fi and mDNS and a DHCP network for wireless links', () => {
    expect(SYSTEM_PACKAGES).toEqual(expect.arrayContaining(['wpasupplicant', 'wireless-regdb', 'avahi-daemon']));
    expect(WIRELESS_NETWORK).toMatch(/^\[Match\]\nName=wlan\* wl\*\n/);
    expect(WIRELESS_NETWORK).toContain('DHCP=yes');
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
