// The image's set-up script, run for real (dash, as the image's /bin/sh) as an ordinary user
// against a temporary tree (BTN_ROOT): what a household's btn-node.txt turns into, what happens
// to the Wi-Fi passphrase on the FAT partition, and how a wrong value is named.
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readFile, readdir, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';

const run = promisify(execFile);
const SCRIPT = new URL('../../image-build/rootfs/usr/lib/btn-node/firstboot.sh', import.meta.url).pathname;
const PASSPHRASE = 'c0rrect "horse" #battery=';

let root: string;
const at = (p: string): string => join(root, p);
const TXT = 'boot/firmware/btn-node.txt';
const WPA = 'etc/wpa_supplicant/wpa_supplicant-wlan0.conf';
const PASS = 'etc/btn-node/wifi-passphrase';
const PROBLEMS = 'etc/btn-node/setup-problems';

async function firstboot(txt?: string): Promise<{ stderr: string }> {
  if (txt !== undefined) await writeFile(at(TXT), txt);
  const { stderr } = await run('sh', [SCRIPT], { env: { ...process.env, BTN_ROOT: root } });
  return { stderr };
}
const mode = async (p: string): Promise<number> => (await stat(at(p))).mode & 0o777;
const exists = (p: string): Promise<boolean> => stat(at(p)).then(() => true, () => false);

beforeEach(async () => {
  root = await mkdtemp(join(tmpdir(), 'btn-firstboot-'));
  for (const d of ['boot/firmware', 'etc', 'var/lib', 'usr/lib/btn-node']) await mkdir(at(d), { recursive: true });
  await writeFile(at('etc/machine-id'), '0123abcd4567ef890123abcd4567ef89\n');
  await writeFile(at('usr/lib/btn-node/image-board'), 'rpi4\n');
});
afterEach(async () => {
  await rm(root, { recursive: true, force: true });
});

describe('firstboot.sh: Wi-Fi and hostname from btn-node.txt', () => {
  it('writes wpa_supplicant\'s file and a root-only passphrase, and takes the passphrase off the FAT partition', async () => {
    // CRLF and a byte order mark, as Windows' Notepad may save it; an SSID with spaces, quotes and a '#'.
    const txt = '\ufeff' + ['# settings', 'ROOT_URL=https://root.example', 'WIFI_COUNTRY=de', 'WIFI_SSID=Our "Home" #2', `WIFI_PASSWORD=${PASSPHRASE}`, 'HOSTNAME=Kitchen-Node', ''].join('\r\n');
    const { stderr } = await firstboot(txt);
    expect(stderr).not.toContain(PASSPHRASE);

    const wpa = await readFile(at(WPA), 'utf8');
    expect(await mode(WPA)).toBe(0o600);
    expect(wpa).toMatch(/^country=DE$/m);
    expect(wpa).toContain(`ssid=${Buffer.from('Our "Home" #2').toString('hex')}\n`);
    expect(wpa).toContain(`psk="${PASSPHRASE}"\n`);
    expect(wpa).toMatch(/key_mgmt=WPA-PSK WPA-PSK-SHA256 SAE/);
    expect(await readFile(at(PASS), 'utf8')).toBe(`${PASSPHRASE}\n`);
    expect(await mode(PASS)).toBe(0o600);

    const after = await readFile(at(TXT), 'utf8');
    expect(after).not.toContain(PASSPHRASE);
    expect(after).toMatch(/^# WIFI_PASSWORD was moved to the device \(\/etc\/btn-node\/wifi-passphrase.*write a new line WIFI_PASSWORD=/m);
    // Everything else is as the household wrote it, CRLF included.
    expect(after.replace(/^# WIFI_PASSWORD was moved[^\r\n]*/m, 'NOTE')).toBe(txt.replace(`WIFI_PASSWORD=${PASSPHRASE}`, 'NOTE'));
    expect((await readdir(at('boot/firmware'))).sort()).toEqual(['btn-node.txt']);
    expect((await readdir(at('etc/btn-node'))).filter((f) => f.endsWith('.new'))).toEqual([]);

    expect(await readFile(at('etc/hostname'), 'utf8')).toBe('kitchen-node\n');
    expect(await exists(PROBLEMS)).toBe(false);
    const config = JSON.parse(await readFile(at('etc/btn-node/config.json'), 'utf8')) as { status: { port: number }; board: string };
    expect(config.status.port).toBe(80);
    expect(config.board).toBe('/usr/lib/btn-node/boards/rpi4.json');

    // The next boot builds the same file from the stored passphrase.
    await firstboot();
    expect(await readFile(at(WPA), 'utf8')).toBe(wpa);
    // A new passphrase written there later replaces the stored one.
    await writeFile(at(TXT), `${await readFile(at(TXT), 'utf8')}WIFI_PASSWORD=another passphrase\r\n`);
    await firstboot();
    expect(await readFile(at(WPA), 'utf8')).toContain('psk="another passphrase"');
    expect(await readFile(at(TXT), 'utf8')).not.toContain('another passphrase');
  });

  it('takes a 64-hex PSK as a raw key (WPA2, no SAE) and removes the Wi-Fi file when the settings go', async () => {
    const psk = 'ab'.repeat(32);
    await firstboot(`WIFI_COUNTRY=GB\nWIFI_SSID=x\nWIFI_PASSWORD=${psk}\n`);
    const wpa = await readFile(at(WPA), 'utf8');
    expect(wpa).toContain(`\tpsk=${psk}\n`);
    expect(wpa).not.toContain('SAE');
    await firstboot('# no Wi-Fi any more\n');
    expect(await exists(WPA)).toBe(false);
  });

  it('names each wrong value on the console and in setup-problems, and leaves a refused passphrase where it was', async () => {
    const txt = `WIFI_COUNTRY=Germany\nWIFI_SSID=${'s'.repeat(33)}\nWIFI_PASSWORD=short\nHOSTNAME=-kitchen_node\nROOT_PUBLIC_KEY=abcd\nWIFI_SSD=typo\n`;
    const { stderr } = await firstboot(txt);
    const problems = await readFile(at(PROBLEMS), 'utf8');
    expect(await mode(PROBLEMS)).toBe(0o640);
    for (const want of [/WIFI_COUNTRY: 'Germany' is not a country code/, /WIFI_SSID: '.*' is 33 bytes long/, /WIFI_PASSWORD has 5 characters/,
      /HOSTNAME: '-kitchen_node' is not a host name/, /ROOT_PUBLIC_KEY has 4 hex digits/, /unknown key 'WIFI_SSD'/]) {
      expect(problems).toMatch(want);
      expect(stderr).toMatch(want);
    }
    expect(problems).not.toContain('short');
    expect(await exists(WPA)).toBe(false);
    expect(await exists(PASS)).toBe(false);
    expect(await readFile(at(TXT), 'utf8')).toBe(txt);
    expect(await readFile(at('etc/hostname'), 'utf8')).toBe('btn-0123abcd\n');

    // Fixed on the card: the problems are gone at the next boot.
    await firstboot('WIFI_COUNTRY=DE\nWIFI_SSID=home\nWIFI_PASSWORD=long enough\n');
    expect(await exists(PROBLEMS)).toBe(false);
    expect(await exists(WPA)).toBe(true);
  });

  it('never shows a line that may hold a passphrase typed without its \'=\'', async () => {
    const { stderr } = await firstboot('WIFI_SSID=home\nWIFI_PASSWORD: hunter2hunter2\nhunter3hunter3\nWIFI PASSWORD=hunter4hunter4\n');
    const problems = await readFile(at(PROBLEMS), 'utf8');
    expect(problems).toMatch(/^line 2 is not KEY=VALUE and not a # comment, ignored$/m);
    expect(problems).toMatch(/^line 3 is not KEY=VALUE and not a # comment, ignored$/m);
    expect(problems).toMatch(/^line 4 is not KEY=VALUE \(the key has characters other than letters, digits and _\), ignored$/m);
    for (const text of [problems, stderr]) expect(text).not.toMatch(/hunter/);
  });

  it('names an SSID without a passphrase and a passphrase with characters outside printable ASCII', async () => {
    await firstboot('WIFI_COUNTRY=DE\nWIFI_SSID=home\nWIFI_PASSWORD=pässwört-long\n');
    const problems = await readFile(at(PROBLEMS), 'utf8');
    expect(problems).toMatch(/WIFI_PASSWORD has characters other than printable ASCII/);
    expect(problems).toMatch(/WIFI_SSID is set but there is no valid WIFI_PASSWORD/);
    expect(await exists(WPA)).toBe(false);
  });

  it('pins the broker CA from the boot partition for an mqtts:// broker and names it unused otherwise', async () => {
    await writeFile(at('boot/firmware/btn-node-broker-ca.pem'), '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----\n');
    await firstboot('BROKER_URL=mqtts://broker.example:8883\n');
    const config = JSON.parse(await readFile(at('etc/btn-node/config.json'), 'utf8')) as { broker: string; brokerCa?: string };
    expect(config).toMatchObject({ broker: 'mqtts://broker.example:8883', brokerCa: '/etc/btn-node/broker-ca.pem' });
    expect(await mode('etc/btn-node/broker-ca.pem')).toBe(0o640);
    expect(await exists(PROBLEMS)).toBe(false);
    await firstboot('BROKER_URL=mqtt://broker.example:1883\nHOSTNAME=later-name\n');
    expect(await readFile(at(PROBLEMS), 'utf8')).toMatch(/^btn-node-broker-ca\.pem is only used with an mqtts:\/\/ BROKER_URL$/m);
    // HOSTNAME is applied at every boot, not only the first.
    expect(await readFile(at('etc/hostname'), 'utf8')).toBe('later-name\n');
  });

  it('UPDATE_HEALTH_SECONDS becomes the health check\'s setting; a value outside 30..3600 is named and the default kept', async () => {
    const ENV = 'etc/btn-node/update-health.env';
    await firstboot('UPDATE_HEALTH_SECONDS=45\r\n');
    expect(await readFile(at(ENV), 'utf8')).toBe('BTN_UPDATE_HEALTH_SECONDS=45\n');
    expect(await exists(PROBLEMS)).toBe(false);
    for (const wrong of ['29', '3601', '045', '1e3', '', '99999999999999999999']) {
      await firstboot(`UPDATE_HEALTH_SECONDS=${wrong}\n`);
      expect(await readFile(at(PROBLEMS), 'utf8')).toMatch(/^UPDATE_HEALTH_SECONDS: '.*' is not whole seconds in 30\.\.3600; keeping the default$/m);
      expect(await exists(ENV)).toBe(false);
    }
    await firstboot('UPDATE_HEALTH_SECONDS=3600\n');
    expect(await readFile(at(ENV), 'utf8')).toBe('BTN_UPDATE_HEALTH_SECONDS=3600\n');
    await firstboot('HOSTNAME=no-setting\n'); // the key gone: the default again
    expect(await exists(ENV)).toBe(false);
  });

  it('uses the new btn-node.txt that a power cut inside the rename left beside a missing one', async () => {
    await writeFile(at(`${TXT}.new`), 'WIFI_COUNTRY=DE\nWIFI_SSID=home\n# WIFI_PASSWORD was moved to the device\n');
    await mkdir(at('etc/btn-node'), { recursive: true });
    await writeFile(at(PASS), 'stored passphrase\n', { mode: 0o600 });
    await firstboot();
    expect((await readdir(at('boot/firmware'))).sort()).toEqual(['btn-node.txt']);
    expect(await readFile(at(WPA), 'utf8')).toContain('psk="stored passphrase"');
  });
});
