// What every btn-node image gets in its root file system, whatever the board: the agent bundle
// and koffi for the board's architecture, the set-up script and board configs, a system user
// btn-node in group tss, its units enabled (agent, set-up, per-boot health check of the slot), DHCP through systemd-networkd, the status LED's
// grants (status-led.ts), and an fstab with the FAT boot partition at /boot/firmware and the data
// partition with the agent's state and config bind-mounted from it (ab-slots.ts). Also the
// btn-node.txt a fresh boot partition carries. Used by build.ts (x86) and pi/build-pi.ts.
import { execFile } from 'node:child_process';
import { chmod, cp, mkdir, rm, symlink, writeFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import type { BoardConfig } from '../firmware/board/index.ts';
import { bundle } from './bundle.ts';
import { dataFstab } from './ab-slots.ts';
import { BOOT_LABEL } from './disk.ts';
import { installStatusLed } from './status-led.ts';

const run = promisify(execFile);

export const DEBIAN_MIRROR = 'http://deb.debian.org/debian';
/** Debian packages every image's system needs besides its kernel and boot firmware. */
export const SYSTEM_PACKAGES: readonly string[] = [
  'systemd', 'systemd-sysv', 'udev', 'kmod', 'initramfs-tools', 'ca-certificates', 'iproute2',
  'nodejs', 'tpm-udev', 'libtss2-esys-3.0.2-0', 'libtss2-tctildr0', 'libtss2-rc0', 'libtss2-mu0', 'libtss2-tcti-device0',
  // Wi-Fi from btn-node.txt (firstboot-network.sh); the regulatory database lets WIFI_COUNTRY take effect.
  'wpasupplicant', 'wireless-regdb',
  // http://btn-<id>.local/ and DNS-SD. Not libnss-mdns: the device never looks up .local names itself.
  // dbus by name: avahi depends on it only through a virtual package (default-dbus-system-bus), which
  // debootstrap's --include resolver may not follow; the Pi image has no RAUC to pull it in.
  // avahi-utils: avahi-browse, with which the device finds its own announcement before it prints its address.
  'avahi-daemon', 'avahi-utils', 'dbus',
  // growpart: the data partition grows to the end of the card at boot (firstboot.sh); resize2fs is in e2fsprogs.
  'cloud-guest-utils', 'e2fsprogs', 'fdisk',
];
/** DHCP on Wi-Fi once wpa_supplicant has associated; the wired link wins when both are up (lower metric). */
export const WIRELESS_NETWORK = '[Match]\nName=wlan* wl*\n\n[Network]\nDHCP=yes\n\n[DHCPv4]\nRouteMetric=2048\n\n[IPv6AcceptRA]\nRouteMetric=2048\n';
const HERE = dirname(fileURLToPath(import.meta.url));
const ROOT = resolve(HERE, '..');

export async function installAgent(rootfs: string, board: BoardConfig, arch: 'x64' | 'arm64' | 'arm'): Promise<void> {
  const lib = join(rootfs, 'usr/lib/btn-node');
  await bundle(lib, arch, 'glibc');
  await cp(join(HERE, 'rootfs/usr/lib/btn-node/firstboot.sh'), join(lib, 'firstboot.sh'));
  await chmod(join(lib, 'firstboot.sh'), 0o755);
  await cp(join(HERE, 'rootfs/usr/lib/btn-node/firstboot-network.sh'), join(lib, 'firstboot-network.sh'));
  await cp(join(HERE, 'rootfs/usr/lib/btn-node/announce-address.sh'), join(lib, 'announce-address.sh'));
  await cp(join(ROOT, 'board-configs'), join(lib, 'boards'), { recursive: true });
  await writeFile(join(lib, 'image-board'), `${board.name}\n`); // the set-up script's default BOARD
  await cp(join(HERE, 'README.md'), join(lib, 'README.md'));

  await run('chroot', [rootfs, 'useradd', '--system', '--user-group', '--home-dir', '/var/lib/btn-node', '--no-create-home', '--shell', '/usr/sbin/nologin', '--groups', 'tss', 'btn-node']);
  const units = join(rootfs, 'etc/systemd/system');
  const wants = join(units, 'multi-user.target.wants');
  await mkdir(wants, { recursive: true });
  for (const unit of ['btn-node.service', 'btn-node-firstboot.service', 'btn-node-health.service', 'btn-node-update.path', 'btn-node-address.service']) {
    await cp(join(HERE, 'systemd', unit), join(units, unit));
    await symlink(`/etc/systemd/system/${unit}`, join(wants, unit));
  }
  // Started by btn-node-update.path when the agent asks for an announced update; not enabled itself.
  await cp(join(HERE, 'systemd/btn-node-update.service'), join(units, 'btn-node-update.service'));
  // The status page's port 80, bound by systemd for the unprivileged agent (the unit says why).
  await mkdir(join(units, 'sockets.target.wants'), { recursive: true });
  await cp(join(HERE, 'systemd/btn-node.socket'), join(units, 'btn-node.socket'));
  await symlink('/etc/systemd/system/btn-node.socket', join(units, 'sockets.target.wants/btn-node.socket'));
  await mkdir(join(units, 'avahi-daemon.service.d'), { recursive: true });
  await cp(join(HERE, 'systemd/avahi-daemon-btn-node.conf'), join(units, 'avahi-daemon.service.d/btn-node.conf'));
  await mkdir(join(rootfs, 'etc/avahi/services'), { recursive: true });
  await cp(join(HERE, 'rootfs/etc/avahi/services/btn-node.service'), join(rootfs, 'etc/avahi/services/btn-node.service'));
  await mkdir(join(rootfs, 'etc/systemd/network'), { recursive: true });
  await writeFile(join(rootfs, 'etc/systemd/network/20-wired.network'), '[Match]\nName=en* eth*\n\n[Network]\nDHCP=yes\n');
  await writeFile(join(rootfs, 'etc/systemd/network/25-wireless.network'), WIRELESS_NETWORK);
  await symlink('/lib/systemd/system/systemd-networkd.service', join(wants, 'systemd-networkd.service'));
  // wpa_supplicant@wlan0 is started by the set-up script when btn-node.txt has Wi-Fi settings;
  // the D-Bus instance Debian enables serves no one here.
  for (const f of [join(wants, 'wpa_supplicant.service'), join(units, 'wpa_supplicant.service')]) await rm(f, { force: true });
  await symlink('/dev/null', join(units, 'wpa_supplicant.service'));
  await installStatusLed(rootfs, board); // nothing for a board without a status LED

  // The boot partition is FAT (no owners): readable by root only; nofail, so a damaged card still boots.
  await mkdir(join(rootfs, 'boot/firmware'), { recursive: true });
  await writeFile(join(rootfs, 'etc/fstab'), [
    // The root is whichever slot the boot loader chose (root= on the kernel's command line).
    '/dev/root / ext4 defaults,errors=remount-ro 0 1',
    `LABEL=${BOOT_LABEL} /boot/firmware vfat defaults,nofail,nodev,nosuid,noexec,umask=0077 0 0`,
  ].join('\n') + '\n' + dataFstab());
  await writeFile(join(rootfs, 'etc/hostname'), 'btn-node\n');
  await writeFile(join(rootfs, 'etc/machine-id'), ''); // systemd makes one per device at first boot
}

/** What the boot partition carries until the household or the manufacturer edits it. */
export function defaultBtnNodeTxt(board: string): string {
  return `# btn-node settings: edit on any computer, then start the device (read at every boot).
# ROOT_URL=https://root.example        the root node that activates this device
# ROOT_PUBLIC_KEY=<64 hex>             the root node's Ed25519 public key
# BROKER_URL=mqtt://broker.local:1883  where the primary nodes publish candidate blocks
# BOARD=${board}${' '.repeat(Math.max(1, 31 - board.length))}a file of /usr/lib/btn-node/boards (this image: ${board})
# WIFI_COUNTRY=DE                      two letters: the country whose Wi-Fi channels the radio may use
# WIFI_SSID=Our network                the Wi-Fi network's name
# WIFI_PASSWORD=<passphrase>           8 to 63 characters; moved off this card at the first start
# HOSTNAME=kitchen-node                the device's name on the network (<name>.local); default btn-<id>
`;
}
