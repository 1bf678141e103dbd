# Sourced by firstboot.sh (POSIX sh, root, every boot): the device's own network settings from
# btn-node.txt. Wi-Fi through wpa_supplicant for wlan0 (systemd-networkd's 25-wireless.network
# does DHCP on it once associated) and the hostname that avahi announces as <name>.local.
# The passphrase is moved off the FAT partition into /etc/btn-node/wifi-passphrase (root only, on
# the data partition, so an update of the root slot keeps it) and its line in btn-node.txt is
# replaced by a note. Uses R, conf, problem() and the wifi_*/new_hostname values of firstboot.sh.

wifi_dir="$R/etc/wpa_supplicant"
wifi_conf="$wifi_dir/wpa_supplicant-wlan0.conf"
pass_file="$R/etc/btn-node/wifi-passphrase"

# Bytes, not characters: an SSID is at most 32 octets, whatever its encoding (IEEE 802.11 §9.4.2.2).
byte_len() { printf %s "$1" | wc -c | tr -d ' '; }
# A file's new content is written beside, synced and renamed: a power cut leaves the old or the new.
replace_file() { sync "$1.new" 2>/dev/null || sync; mv -f "$1.new" "$1"; sync; }

# --- HOSTNAME: one RFC 1123 label (it becomes <name>.local), set at every boot when given.
if [ -n "$hostname_set" ]; then
  name=$(printf %s "$new_hostname" | tr 'A-Z' 'a-z')
  len=$(byte_len "$name")
  case "$name" in
    ''|-*|*-|*[!a-z0-9-]*) ok="" ;;
    *) ok=1 ;;
  esac
  if [ -z "$ok" ] || [ "$len" -gt 63 ]; then
    problem "HOSTNAME: '$(printf %s "$new_hostname" | tr -cd 'A-Za-z0-9._ -' | cut -c1-70)' is not a host name: 1 to 63 letters, digits and hyphens, not starting or ending with a hyphen; keeping $(cat "$R/etc/hostname" 2>/dev/null || echo the old one)"
  else
    echo "$name" > "$R/etc/hostname"
    [ -n "$R" ] || hostname "$name" 2>/dev/null || true
  fi
fi

# --- WIFI_COUNTRY: the radio's legal channels; ISO 3166-1 alpha-2.
country=$(printf %s "$wifi_country" | tr 'a-z' 'A-Z')
case "$country" in
  '') [ -z "$wifi_ssid" ] || problem "WIFI_COUNTRY is missing: two letters such as DE, GB or US (the country sets which Wi-Fi channels the radio may use)" ;;
  [A-Z][A-Z]) ;;
  *) problem "WIFI_COUNTRY: '$(printf %s "$wifi_country" | tr -cd 'A-Za-z0-9 ' | cut -c1-20)' is not a country code: two letters such as DE, GB or US"; country="" ;;
esac

# --- WIFI_PASSWORD: 8 to 63 printable ASCII characters, or 64 hex digits (IEEE 802.11 Annex J.4).
# Its value is never printed. A valid one is stored root-only, then taken off the FAT partition.
if [ -n "$wifi_password_set" ]; then
  plen=$(byte_len "$wifi_password")
  odd=$(printf %s "$wifi_password" | tr -d ' -~' | wc -c | tr -d ' ')
  hex=$(printf %s "$wifi_password" | tr -d '0-9A-Fa-f' | wc -c | tr -d ' ')
  if { [ "$plen" -eq 64 ] && [ "$hex" -eq 0 ]; } || { [ "$plen" -ge 8 ] && [ "$plen" -le 63 ] && [ "$odd" -eq 0 ]; }; then
    (umask 077 && printf '%s\n' "$wifi_password" > "$pass_file.new")
    [ -n "$R" ] || chown root:root "$pass_file.new"
    replace_file "$pass_file"
    cr=$(printf '\r')
    note="# WIFI_PASSWORD was moved to the device (/etc/btn-node/wifi-passphrase, readable by root only); to change it, write a new line WIFI_PASSWORD=<passphrase> here and restart the device."
    # The old file stays whole until the new one is on the card.
    sed "s|^WIFI_PASSWORD=[^$cr]*|$note|" "$conf" > "$conf.new"
    replace_file "$conf"
  elif [ "$odd" -ne 0 ]; then
    problem "WIFI_PASSWORD has characters other than printable ASCII (letters, digits, punctuation, space); not used"
  else
    problem "WIFI_PASSWORD has $plen characters: a Wi-Fi passphrase has 8 to 63 (or is 64 hex digits); not used"
  fi
fi

# --- WIFI_SSID: 1 to 32 bytes. Written in hex, so no character of it can break the file.
if [ -n "$wifi_ssid" ]; then
  slen=$(byte_len "$wifi_ssid")
  if [ "$slen" -gt 32 ]; then
    problem "WIFI_SSID: '$(printf %s "$wifi_ssid" | tr -cd ' -~' | cut -c1-40)' is $slen bytes long; a Wi-Fi network name has at most 32; Wi-Fi not set up"
    wifi_ssid=""
  fi
fi
pass=""
[ -r "$pass_file" ] && IFS= read -r pass < "$pass_file" || true
if [ -n "$wifi_ssid" ] && [ -z "$pass" ]; then
  problem "WIFI_SSID is set but there is no valid WIFI_PASSWORD (8 to 63 characters); Wi-Fi not set up"
  wifi_ssid=""
fi

if [ -n "$wifi_ssid" ]; then
  ssid_hex=$(printf %s "$wifi_ssid" | od -An -v -tx1 | tr -d ' \n')
  if [ ${#pass} -eq 64 ] && [ -z "$(printf %s "$pass" | tr -d '0-9A-Fa-f')" ]; then
    # A raw PSK (64 hex): WPA2 only, SAE needs the passphrase.
    secret="key_mgmt=WPA-PSK WPA-PSK-SHA256
	psk=$pass"
  else
    # wpa_supplicant reads a quoted passphrase up to its last quote, so any printable character is safe.
    secret="key_mgmt=WPA-PSK WPA-PSK-SHA256 SAE
	ieee80211w=1
	psk=\"$pass\""
  fi
  mkdir -p "$wifi_dir"
  (umask 077 && cat > "$wifi_conf.new" <<WPA
# Written by btn-node-firstboot from btn-node.txt (WIFI_*) at every boot; edits here are lost.
${country:+country=$country
}network={
	ssid=$ssid_hex
	scan_ssid=1
	$secret
}
WPA
  )
  [ -n "$R" ] || chown root:root "$wifi_conf.new"
  replace_file "$wifi_conf"
  # Not enabled in the image: a device without Wi-Fi settings never waits for a wlan0.
  [ -n "$R" ] || systemctl --no-block restart wpa_supplicant@wlan0.service || problem "wpa_supplicant@wlan0 could not be started"
else
  rm -f "$wifi_conf"
fi
