#!/bin/sh
# RAUC's custom boot loader backend for the Raspberry Pi firmware's tryboot (system.conf:
# bootloader=custom, [handlers] bootloader-custom-backend=this file). RAUC calls it as
#   get-primary | set-primary A|B | get-state A|B | set-state A|B good|bad | get-current
# and reads one word from stdout; exit 0 is success.
#
# The firmware reads autoboot.txt on partition 1 (the config partition, /boot/firmware):
#   [all] tryboot_a_b=1 boot_partition=<committed slot>  [tryboot] boot_partition=<other slot>
# Slot A boots from partition 2, B from 3. A new slot is never made the default before it ran:
# set-primary arms a one-shot trial ("0 tryboot" as systemd's reboot parameter, so the next
# `systemctl reboot` sets the firmware's tryboot flag); the firmware clears the flag as it boots,
# so a trial that hangs, loses power or is not marked good boots the committed slot next time.
# set-state good on the slot running as a trial commits it: autoboot.txt is rewritten with it
# as the default. Bad marks are kept in slot-marks.txt next to autoboot.txt.
#
# Inputs (the defaults are the device's; tests point them elsewhere):
#   BTN_TRYBOOT_DIR           directory of autoboot.txt and slot-marks.txt (/boot/firmware)
#   BTN_TRYBOOT_CMDLINE       the kernel command line, whose rauc.slot= names the booted slot (/proc/cmdline)
#   BTN_TRYBOOT_REBOOT_PARAM  systemd's reboot parameter file (/run/systemd/reboot-param)
#   BTN_TRYBOOT_VCIO          present only under the Raspberry Pi kernel (/dev/vcio); see arm()
# Errors: one line on stderr, "rauc-tryboot-backend: ERR_TRYBOOT_<CODE>: <what>"; exit 2 for a
# wrong call, 1 for a state this handler cannot read or write.
set -euf # -f: no globbing of the words of a command line

dir=${BTN_TRYBOOT_DIR:-/boot/firmware}
cmdline=${BTN_TRYBOOT_CMDLINE:-/proc/cmdline}
reboot_param=${BTN_TRYBOOT_REBOOT_PARAM:-/run/systemd/reboot-param}
vcio=${BTN_TRYBOOT_VCIO:-/dev/vcio}
autoboot=$dir/autoboot.txt
marks=$dir/slot-marks.txt
# The firmware reads at most 512 bytes of autoboot.txt; a kernel command line is at most 4 KiB.
max_autoboot=512
max_cmdline=4096
max_small=256

fail() { # code exit-status message
  printf 'rauc-tryboot-backend: ERR_TRYBOOT_%s: %s\n' "$1" "$3" >&2
  exit "$2"
}

usage() {
  fail USAGE 2 "$1 (usage: get-primary | set-primary A|B | get-state A|B | set-state A|B good|bad | get-current)"
}

slot_arg() {
  case "$1" in
    A|B) ;;
    *) usage "slot must be A or B, got '$(printf %s "$1" | cut -c1-20)'" ;;
  esac
}

part_of() { if [ "$1" = A ]; then echo 2; else echo 3; fi; }
other_of() { if [ "$1" = A ]; then echo B; else echo A; fi; }

# Refuses a file larger than $2 bytes (read with wc, never loaded before the check).
check_size() {
  size=$(wc -c < "$1") || fail READ 1 "cannot read $1"
  [ "$size" -le "$2" ] || fail "$3" 1 "$1 has $size bytes, more than $2"
}

# The committed slot, from autoboot.txt; only the exact shape this handler writes is accepted.
committed() {
  [ -f "$autoboot" ] || fail AUTOBOOT 1 "$autoboot is missing"
  check_size "$autoboot" "$max_autoboot" AUTOBOOT
  shape=$(grep -v -e '^#' -e '^[[:space:]]*$' "$autoboot" | tr '\n' ' ') || true
  case "$shape" in
    '[all] tryboot_a_b=1 boot_partition=2 [tryboot] boot_partition=3 ') echo A ;;
    '[all] tryboot_a_b=1 boot_partition=3 [tryboot] boot_partition=2 ') echo B ;;
    *) fail AUTOBOOT 1 "$autoboot is not an A/B selection this handler wrote: '$(printf %s "$shape" | cut -c1-120)'" ;;
  esac
}

# Writes a file so that a reader sees the old or the new content: a synced copy renamed over it.
write_file() { # path content
  printf '%s' "$2" > "$1.new" || fail WRITE 1 "cannot write $1.new"
  sync "$1.new" 2>/dev/null || sync
  mv -f "$1.new" "$1" || fail WRITE 1 "cannot replace $1"
  sync "$(dirname "$1")" 2>/dev/null || sync
}

commit() { # slot
  p=$(part_of "$1")
  q=$(part_of "$(other_of "$1")")
  write_file "$autoboot" "# btn-node A/B boot selection, written by rauc-tryboot-backend: slot A boots from partition 2, B from 3.
[all]
tryboot_a_b=1
boot_partition=$p
[tryboot]
boot_partition=$q
"
}

is_marked_bad() { # slot
  [ -f "$marks" ] || return 1
  check_size "$marks" "$max_small" MARKS
  grep -q -x "$1=bad" "$marks"
}

set_mark() { # slot good|bad
  a=ok
  b=ok
  if is_marked_bad A; then a=bad; fi
  if is_marked_bad B; then b=bad; fi
  if [ "$1" = A ]; then old=$a; else old=$b; fi
  new=ok
  [ "$2" = bad ] && new=bad
  [ "$old" = "$new" ] && return 0 # unchanged: the FAT is not written at every boot
  if [ "$1" = A ]; then a=$new; else b=$new; fi
  content="# slots marked bad by RAUC (rauc-tryboot-backend)
"
  [ "$a" = bad ] && content="${content}A=bad
"
  [ "$b" = bad ] && content="${content}B=bad
"
  write_file "$marks" "$content"
}

armed() {
  [ -f "$reboot_param" ] || return 1
  check_size "$reboot_param" "$max_small" REBOOT_PARAM
  grep -q tryboot "$reboot_param"
}

# Only the Raspberry Pi kernel's firmware driver passes "tryboot" from reboot(2) to the firmware;
# Debian's (upstream) kernel has neither that nor the vcio mailbox device, and a reboot there
# would silently boot the old slot. Refused instead, so the install says why.
arm() {
  [ -e "$vcio" ] || fail KERNEL 1 "the running kernel cannot set the firmware's tryboot flag (no $vcio: not the Raspberry Pi kernel); the new slot is written but cannot be tried"
  mkdir -p "$(dirname "$reboot_param")" || fail WRITE 1 "cannot create $(dirname "$reboot_param")"
  printf '0 tryboot' > "$reboot_param" || fail WRITE 1 "cannot write $reboot_param"
}

disarm() {
  if armed; then rm -f "$reboot_param" || fail WRITE 1 "cannot remove $reboot_param"; fi
}

current() {
  [ -r "$cmdline" ] || fail CMDLINE 1 "cannot read $cmdline"
  check_size "$cmdline" "$max_cmdline" CMDLINE
  found=''
  for word in $(cat "$cmdline"); do
    case "$word" in
      rauc.slot=*)
        [ -z "$found" ] || fail CMDLINE 1 "$cmdline names rauc.slot= more than once"
        found=${word#rauc.slot=}
        ;;
    esac
  done
  case "$found" in
    A|B) echo "$found" ;;
    '') fail CMDLINE 1 "$cmdline has no rauc.slot=" ;;
    *) fail CMDLINE 1 "$cmdline names rauc.slot=$(printf %s "$found" | cut -c1-20), not A or B" ;;
  esac
}

[ $# -ge 1 ] || usage 'no command'
cmd=$1
shift
case "$cmd" in
  get-primary)
    [ $# -eq 0 ] || usage 'get-primary takes no argument'
    c=$(committed)
    if armed; then other_of "$c"; else echo "$c"; fi
    ;;
  set-primary)
    [ $# -eq 1 ] || usage 'set-primary takes one slot'
    slot_arg "$1"
    c=$(committed)
    if [ "$1" = "$c" ]; then disarm; else arm; fi
    set_mark "$1" good
    ;;
  get-state)
    [ $# -eq 1 ] || usage 'get-state takes one slot'
    slot_arg "$1"
    c=$(committed)
    if is_marked_bad "$1"; then echo bad
    elif [ "$1" = "$c" ]; then echo good
    elif armed; then echo good # the trial the next reboot makes
    else
      cur=$(current)
      if [ "$cur" = "$1" ]; then echo good # running as a trial, not committed yet
      else echo bad # neither default nor armed: the firmware does not boot it
      fi
    fi
    ;;
  set-state)
    [ $# -eq 2 ] || usage 'set-state takes a slot and good or bad'
    slot_arg "$1"
    case "$2" in good|bad) ;; *) usage "state must be good or bad, got '$(printf %s "$2" | cut -c1-20)'" ;; esac
    c=$(committed)
    cur=$(current)
    if [ "$2" = good ]; then
      set_mark "$1" good
      # The trial came up and is healthy: it becomes the default.
      if [ "$1" != "$c" ] && [ "$cur" = "$1" ]; then commit "$1"; disarm; fi
    else
      set_mark "$1" bad
      if [ "$1" != "$c" ]; then
        disarm # a reboot does not try it (again); a trial running now falls back by itself
      elif [ "$cur" = "$(other_of "$1")" ] && ! is_marked_bad "$(other_of "$1")"; then
        commit "$(other_of "$1")" # the default is bad and the other slot is running: keep that one
      fi
    fi
    ;;
  get-current)
    [ $# -eq 0 ] || usage 'get-current takes no argument'
    current
    ;;
  *) usage "unknown command '$(printf %s "$cmd" | cut -c1-40)'" ;;
esac
