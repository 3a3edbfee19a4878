# shellcheck shell=bash
# BMC emulators for Maskin's tests, on loopback only:
#   - Redfish: sushy-tools (PyPI, in .venv-test beside oidc-provider-mock) with its fake driver (no libvirt),
#     nine fake systems (1–4 for the driver tests, 5–8 for the workflow tests, 9 for the Maskin → Nett attachments) and HTTP basic auth (bcrypt htpasswd, the only format sushy-tools accepts);
#   - IPMI 2.0 lanplus: OpenIPMI's ipmi_sim (Debian) with one admin user, FRU data, a GUID, and a
#     chassis_control script that keeps power and boot device in a state directory.
#
# bmc_ensure_installed                 installs ipmitool + openipmi (Debian) and sushy-tools (PyPI) if missing.
# bmc_start [REDFISH_PORT] [IPMI_PORT] starts both and exports DV_TEST_REDFISH_URL, DV_TEST_REDFISH_USER,
#                                      DV_TEST_REDFISH_PASSWORD, DV_TEST_IPMI_ADDRESS, DV_TEST_IPMI_USER,
#                                      DV_TEST_IPMI_PASSWORD and DV_TEST_IPMI_STATE_DIR.
# bmc_stop                             stops what bmc_start started (callers trap it on EXIT).
. "$(dirname "${BASH_SOURCE[0]}")/python.sh"

BMC_SUSHY_SPEC='sushy-tools==2.2.0'
BMC_VENV=.venv-test

bmc_ensure_installed() {
  if ! command -v ipmitool >/dev/null 2>&1 || ! command -v ipmi_sim >/dev/null 2>&1; then
    echo "==> installing ipmitool and openipmi (Debian packages)"
    export DEBIAN_FRONTEND=noninteractive
    apt-get update -qq
    apt-get install -y -qq ipmitool openipmi >/dev/null
  fi
  py_venv "$BMC_VENV" sushy_tools "$BMC_SUSHY_SPEC"
  # bcrypt makes the htpasswd entry; sushy-tools depends on it, but say so.
  py_venv "$BMC_VENV" bcrypt bcrypt
}

# bmc_wait_tcp PORT: up to 10 s for a TCP listener on 127.0.0.1:PORT.
bmc_wait_tcp() {
  local port=$1
  for _ in $(seq 1 100); do
    if (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then return 0; fi
    sleep 0.1
  done
  return 1
}

# bmc_fru_hex SERIAL [PRODUCT] [PART]: an IPMI FRU image (common header + product info area) as hex bytes for ipmi_sim.
bmc_fru_hex() {
  python3 - "$1" "${2:-ipmi-sim}" "${3:-DV-SIM-1}" <<'PY'
import sys
serial, product, part = sys.argv[1:4]
fields = ["Dataverket Lab", product, part, "1.0", serial, "", ""]
body = bytes([0x01, 0x00, 0x00])  # version, length (patched), language English
for f in fields:
    data = f.encode("ascii")
    body += bytes([0xC0 | len(data)]) + data
body += bytes([0xC1])
while (len(body) + 1) % 8:
    body += b"\x00"
body = bytearray(body)
body[1] = (len(body) + 1) // 8
body.append((-sum(body)) & 0xFF)
header = bytearray([0x01, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00])
header.append((-sum(header)) & 0xFF)
print(" ".join("0x%02x" % b for b in bytes(header) + bytes(body)))
PY
}

bmc_start() {
  local redfish_port=${1:-${DV_TEST_REDFISH_PORT:-18000}} ipmi_port=${2:-${DV_TEST_IPMI_PORT:-19623}}
  local user=${DV_TEST_BMC_USER:-dvadmin} password=${DV_TEST_BMC_PASSWORD:-Hemmelig-7Qx2}
  BMC_DIR=$(mktemp -d -t dv-bmc.XXXXXX)

  # --- Redfish: sushy-tools, fake driver, basic auth -----------------------------------------------------
  "$BMC_VENV/bin/python" -c 'import bcrypt, sys; print(sys.argv[1] + ":" + bcrypt.hashpw(sys.argv[2].encode(), bcrypt.gensalt(rounds=4)).decode())' \
    "$user" "$password" >"$BMC_DIR/htpasswd"
  cat >"$BMC_DIR/sushy.conf" <<EOF
SUSHY_EMULATOR_LISTEN_IP = '127.0.0.1'
SUSHY_EMULATOR_LISTEN_PORT = $redfish_port
SUSHY_EMULATOR_AUTH_FILE = '$BMC_DIR/htpasswd'
SUSHY_EMULATOR_STATE_DIR = '$BMC_DIR/sushy-state'
SUSHY_EMULATOR_FAKE_DRIVER = True
SUSHY_EMULATOR_FAKE_SYSTEMS = [
$(for i in 1 2 3 4 5 6 7 8 9; do
    printf "    {'uuid': '2b1f6a4e-0000-4000-8000-00000000000%s', 'name': 'dv-fake-%s', 'power_state': 'Off',\n" "$i" "$i"
    printf "     'external_notifier': False, 'nics': [{'mac': '52:54:00:a0:00:0%s', 'ip': '127.0.0.1'}]},\n" "$i"
  done)
]
SUSHY_EMULATOR_STORAGE = {
$(for i in 1 2 3 4 5 6 7 8 9; do
    printf "    '2b1f6a4e-0000-4000-8000-00000000000%s': [{'Id': '1', 'Name': 'Local Storage Controller',\n" "$i"
    printf "        'StorageControllers': [{'MemberId': '0', 'Name': 'Contoso Integrated RAID', 'SpeedGbps': 12}],\n"
    printf "        'Drives': ['disk0', 'disk1']}],\n"
  done)
}
SUSHY_EMULATOR_DRIVES = {
$(for i in 1 2 3 4 5 6 7 8 9; do
    printf "    ('2b1f6a4e-0000-4000-8000-00000000000%s', '1'): [\n" "$i"
    printf "        {'Id': 'disk0', 'Name': 'Drive 0', 'CapacityBytes': 480103981056, 'Protocol': 'SATA'},\n"
    printf "        {'Id': 'disk1', 'Name': 'Drive 1', 'CapacityBytes': 1920383410176, 'Protocol': 'SAS'}],\n"
  done)
}
EOF
  mkdir -p "$BMC_DIR/sushy-state"
  "$BMC_VENV/bin/sushy-emulator" --config "$BMC_DIR/sushy.conf" >"$BMC_DIR/sushy.log" 2>&1 &
  BMC_SUSHY_PID=$!
  if ! bmc_wait_tcp "$redfish_port"; then
    echo "sushy-emulator on port $redfish_port did not come up:" >&2
    cat "$BMC_DIR/sushy.log" >&2
    return 1
  fi

  # --- IPMI: ipmi_sim with a chassis_control script --------------------------------------------------------
  mkdir -p "$BMC_DIR/ipmi-state" "$BMC_DIR/chassis"
  echo 0 >"$BMC_DIR/chassis/power"
  echo default >"$BMC_DIR/chassis/boot"
  # ipmi_sim runs it as: SCRIPT get PARAM... (prints PARAM:VALUE lines) or SCRIPT set PARAM VALUE (some
  # builds put the MC address first: skipped).
  # It must return at once. Every set is also appended to the log (what the tests and the lab read).
  cat >"$BMC_DIR/chassis_control" <<EOF
#!/bin/sh
dir='$BMC_DIR/chassis'
case "\$1" in 0x*) shift ;; esac
op=\$1
shift
case "\$op" in
  get)
    for p in "\$@"; do
      if [ -f "\$dir/\$p" ]; then echo "\$p:\$(cat "\$dir/\$p")"; fi
    done ;;
  set)
    while [ \$# -ge 2 ]; do
      case "\$1" in
        reset) echo 1 >"\$dir/power" ;;
        shutdown) echo 0 >"\$dir/power" ;;  # a soft-off: the pretend OS shuts down at once
        *) echo "\$2" >"\$dir/\$1" ;;
      esac
      echo "\$(date +%s) set \$1 \$2" >>"\$dir/log"
      shift 2
    done ;;
esac
exit 0
EOF
  chmod +x "$BMC_DIR/chassis_control"
  cat >"$BMC_DIR/lan.conf" <<EOF
name "dvbmc"
set_working_mc 0x20
  startlan 1
    addr 127.0.0.1 $ipmi_port
    priv_limit admin
    allowed_auths_callback none md2 md5 straight
    allowed_auths_user none md2 md5 straight
    allowed_auths_operator none md2 md5 straight
    allowed_auths_admin none md2 md5 straight
    guid a123456789abcdefa123456789abcdef
  endlan
  chassis_control "$BMC_DIR/chassis_control"
  user 2 true "$user" "$password" admin 10 none md2 md5 straight
EOF
  cat >"$BMC_DIR/bmc.emu" <<EOF
mc_setbmc 0x20
mc_add 0x20 0 no-device-sdrs 0x23 9 8 0x9f 0x1291 0xf02 persist_sdr
mc_add_fru_data 0x20 0 0x100 data $(bmc_fru_hex DVLAB-IPMI-0001)
mc_set_guid 0x20 "6e1b0c3a-2d4f-4b8e-9a71-0c5d3e2f1a90"
mc_enable 0x20
EOF
  ipmi_sim -n -c "$BMC_DIR/lan.conf" -f "$BMC_DIR/bmc.emu" -s "$BMC_DIR/ipmi-state" >"$BMC_DIR/ipmi_sim.log" 2>&1 &
  BMC_IPMI_PID=$!
  local up=0
  for _ in $(seq 1 50); do
    if IPMI_PASSWORD=$password ipmitool -I lanplus -C 3 -H 127.0.0.1 -p "$ipmi_port" -U "$user" -E \
      -N 1 -R 1 chassis power status >/dev/null 2>&1; then up=1; break; fi
    sleep 0.2
  done
  if [ $up -ne 1 ]; then
    echo "ipmi_sim on port $ipmi_port did not come up:" >&2
    cat "$BMC_DIR/ipmi_sim.log" >&2
    return 1
  fi

  export DV_TEST_REDFISH_URL="http://127.0.0.1:$redfish_port"
  export DV_TEST_REDFISH_USER=$user DV_TEST_REDFISH_PASSWORD=$password
  export DV_TEST_IPMI_ADDRESS="127.0.0.1:$ipmi_port"
  export DV_TEST_IPMI_USER=$user DV_TEST_IPMI_PASSWORD=$password
  export DV_TEST_IPMI_STATE_DIR="$BMC_DIR/chassis"
}

bmc_stop() {
  local pid
  for pid in ${BMC_SUSHY_PID:-} ${BMC_IPMI_PID:-}; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  BMC_SUSHY_PID='' BMC_IPMI_PID=''
  if [ -n "${BMC_DIR:-}" ]; then rm -rf "$BMC_DIR"; BMC_DIR=; fi
}
