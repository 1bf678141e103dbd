#!/bin/sh
# RAUC's post-install handler on the Raspberry Pi (system.conf [handlers] post-install=): a boot
# slot written from a bundle carries the cmdline.txt of the slot it was built in (slot A); this
# points it at the root partition and rauc.slot= of the slot it was written into, so that boot B
# mounts root B and RAUC knows which slot runs. RAUC gives the written slots in RAUC_TARGET_SLOTS
# and per slot N RAUC_SLOT_CLASS_N, RAUC_SLOT_PARENT_N and RAUC_SLOT_DEVICE_N.
#   rauc-pi-post-install                    as RAUC runs it: every written boot slot
#   rauc-pi-post-install retarget FILE A|B  rewrites one cmdline.txt (what the first form does on each)
# Errors: "rauc-pi-post-install: ERR_PI_POST_INSTALL: <what>" on stderr, exit 1; RAUC then fails the install.
set -euf

disk_id=62746e31
max_cmdline=4096

fail() {
  printf 'rauc-pi-post-install: ERR_PI_POST_INSTALL: %s\n' "$1" >&2
  exit 1
}

retarget() { # cmdline.txt slot
  case "$2" in A) root=05 ;; B) root=06 ;; *) fail "slot must be A or B, got '$(printf %s "$2" | cut -c1-20)'" ;; esac
  [ -f "$1" ] || fail "$1 is missing"
  size=$(wc -c < "$1")
  [ "$size" -le "$max_cmdline" ] || fail "$1 has $size bytes, more than $max_cmdline"
  grep -q "root=PARTUUID=$disk_id-0[56]" "$1" || fail "$1 has no root=PARTUUID=$disk_id-05/06 to point at slot $2"
  grep -q 'rauc\.slot=[AB]' "$1" || fail "$1 has no rauc.slot= to set to $2"
  sed -e "s/root=PARTUUID=$disk_id-0[56]/root=PARTUUID=$disk_id-$root/" -e "s/rauc\\.slot=[AB]/rauc.slot=$2/" "$1" > "$1.new"
  sync "$1.new" 2>/dev/null || sync
  mv -f "$1.new" "$1"
}

if [ $# -gt 0 ]; then
  [ "$1" = retarget ] && [ $# -eq 3 ] || fail "usage: rauc-pi-post-install [retarget CMDLINE_FILE A|B]"
  retarget "$2" "$3"
  exit 0
fi

[ -n "${RAUC_TARGET_SLOTS:-}" ] || fail 'RAUC_TARGET_SLOTS is not set: run by RAUC as its post-install handler'
for n in $RAUC_TARGET_SLOTS; do
  case "$n" in *[!0-9]*|'') fail "slot number '$n' is not a number" ;; esac
  eval "class=\${RAUC_SLOT_CLASS_$n:-} parent=\${RAUC_SLOT_PARENT_$n:-} device=\${RAUC_SLOT_DEVICE_$n:-}"
  [ "$class" = boot ] || continue
  case "$parent" in rootfs.0) slot=A ;; rootfs.1) slot=B ;; *) fail "boot slot $n has parent '$parent', not rootfs.0 or rootfs.1" ;; esac
  mnt=$(mktemp -d /run/btn-node-boot-slot.XXXXXX)
  mount -t vfat -o rw,nodev,nosuid,noexec "$device" "$mnt" || { rmdir "$mnt"; fail "cannot mount $device"; }
  if ( retarget "$mnt/cmdline.txt" "$slot" ); then ok=1; else ok=0; fi
  umount "$mnt" || fail "cannot unmount $device from $mnt"
  rmdir "$mnt"
  [ "$ok" = 1 ] || fail "boot slot $n ($device): cmdline.txt not pointed at slot $slot"
  echo "rauc-pi-post-install: $device: cmdline.txt boots root slot $slot"
done
