#!/bin/sh
# Tells whoever looks at the device's screen (or serial console) where its status page is: the
# name avahi announces on the LAN (http://<host>.local/, found back through mDNS itself, so the
# line is only printed once the announcement is really out) and the address. Runs once per boot
# (btn-node-address.service), as root, after avahi and the page's socket.
set -u
host=$(hostname)
found=""
i=0
while [ $i -lt 60 ]; do
  # -p: parsable lines "=;iface;proto;name;type;domain;host;address;port;txt", resolved (-r), once (-t).
  found=$(avahi-browse -rtp _btn-node._tcp 2>/dev/null | awk -F';' -v h="$host.local" '$1 == "=" && $7 == h && $3 == "IPv4" { print $7 " " $8 " " $9; exit }')
  [ -n "$found" ] && break
  i=$((i + 1))
  sleep 1
done
if [ -n "$found" ]; then
  set -- $found
  port=$3
  suffix=""
  [ "$port" = 80 ] || suffix=":$port"
  echo "btn-node: the status page is at http://$1$suffix/ (announced on this network by mDNS as _btn-node._tcp) and http://$2$suffix/"
else
  addr=$(ip -4 -o addr show scope global 2>/dev/null | awk '{ sub("/.*", "", $4); print $4; exit }')
  echo "btn-node: $host.local is not announced on the network yet (avahi); the status page is at http://${addr:-<the device's address>}/"
fi
