#!/usr/bin/python3
"""A BlueZ 5 double for the BLE adapter's integration test.

python3-dbusmock's bluez5 template (adapters, devices) on a private bus,
extended with what the template lacks: ServiceData / ManufacturerData
adverts, GATT services and characteristics (ReadValue, WriteValue,
StartNotify), Connect that resolves services, and a bluetoothd "restart"
(the org.bluez name released and taken again, as NameOwnerChanged shows).

Usage: bluez_mock.py BUS_ADDRESS.  Commands on stdin, one per line; every
command answers {"event": "done", "cmd": ...} (or "failed") on stdout, one
JSON object per line, and the adapter's calls show up as events too
(discovery, connect, write, start_notify).

  adapter hci0                     add a controller (again after remove)
  remove-adapter hci0              remove it and its devices
  device hci0 MAC [hold]           add a device (hold: its services resolve
                                   only on `resolve MAC`)
  resolve MAC                      a held device's services are resolved
  sdata MAC UUID HEX [RSSI]        an advert with service data
  mfr MAC COMPANY HEX [RSSI]       an advert with manufacturer data
  gatt MAC SVC CHAR HEX            add a GATT service/characteristic
  notify MAC CHAR HEX              a notification (Value changes)
  disconnect MAC                   the link drops
  restart                          bluetoothd goes away and comes back
  smp MAC VERSION [MTU]            the device runs MCUmgr SMP (its GATT
                                   service), version VERSION in slot 0
  smp-mode MAC MODE                reject: refuses uploads (bad image);
                                   rollback: boots its old image again
  boot MAC                         a device that was told to reset comes
                                   back (its object, links, services)

The SMP device reassembles uploads (every offset checked), keeps its
slots' images with their SHA-256 and version, and reports events
upload (the whole image received: its SHA-256, and whether its MCUboot
hash checked out), state (test / confirm) and reset; on reset it drops
the link and its object goes away until `boot`.
"""
import hashlib
import struct
import json
import os
import sys

import dbus
import dbus.mainloop.glib
import dbus.service
from gi.repository import GLib

import dbusmock
from dbusmock import mockobject

DEVICE = 'org.bluez.Device1'
SERVICE = 'org.bluez.GattService1'
CHAR = 'org.bluez.GattCharacteristic1'
OM = 'org.freedesktop.DBus.ObjectManager'


def emit(**kw):
    sys.stdout.write(json.dumps(kw) + '\n')
    sys.stdout.flush()


def dev_path(mac):
    for path in mockobject.objects:
        if path.endswith('/dev_' + mac.replace(':', '_').upper()):
            return path
    raise KeyError(mac)


def char_path(mac, uuid):
    base = dev_path(mac) + '/'
    for path, obj in mockobject.objects.items():
        if path.startswith(base) and CHAR in obj.props and \
                str(obj.props[CHAR]['UUID']) == uuid.lower():
            return path
    raise KeyError(uuid)


def full_uuid(u):
    return ('0000' + u.lower() + '-0000-1000-8000-00805f9b34fb') if len(u) == 4 else u.lower()


def ay(hexstr, level=1):
    return dbus.Array([dbus.Byte(b) for b in bytes.fromhex(hexstr)], signature='y',
                      variant_level=level)


def update(obj, iface, props):
    """UpdateProperties, which in dbusmock 0.28 cannot send a dictionary."""
    for k, v in props.items():
        obj.props[iface][k] = v
    obj.EmitSignal(dbus.PROPERTIES_IFACE, 'PropertiesChanged', 'sa{sv}as', [
        iface, dbus.Dictionary(props, signature='sv'), dbus.Array([], signature='s')])


def connect(self):
    # What the controller holds when the call comes: links up, and links
    # still resolving their services (the adapter's budget is about these).
    adapter = str(self.props[DEVICE]['Adapter'])
    devs = [o.props[DEVICE] for p, o in mockobject.objects.items()
            if DEVICE in o.props and str(o.props[DEVICE]['Adapter']) == adapter]
    emit(event='connect', path=self.path, address=str(self.props[DEVICE]['Address']),
         connected=sum(1 for d in devs if d['Connected']),
         resolving=sum(1 for d in devs if d['Connected'] and not d['ServicesResolved']))
    update(self, DEVICE, {'Connected': dbus.Boolean(True, variant_level=1)})
    if not getattr(self, 'hold', False):
        update(self, DEVICE, {'ServicesResolved': dbus.Boolean(True, variant_level=1)})


def disconnect(self):
    update(self, DEVICE, {'ServicesResolved': dbus.Boolean(False, variant_level=1),
                                   'Connected': dbus.Boolean(False, variant_level=1)})


def read_value(self, options):
    return self.props[CHAR]['Value']


def write_value(self, value, options):
    if str(self.props[CHAR]['UUID']) == SMP_CHAR:
        return SMP_DEVS[dev_of(self.path)].request(self, bytes(value), options)
    emit(event='write', path=self.path, uuid=str(self.props[CHAR]['UUID']),
         value=bytes(value).hex())
    self.props[CHAR]['Value'] = dbus.Array(value, signature='y')


def start_notify(self):
    emit(event='start_notify', path=self.path, uuid=str(self.props[CHAR]['UUID']))
    self.props[CHAR]['Notifying'] = dbus.Boolean(True)


def stop_notify(self):
    self.props[CHAR]['Notifying'] = dbus.Boolean(False)


SMP_SVC = '8d53dc1d-1db7-4cd3-868b-8a527460aa84'
SMP_CHAR = 'da2e7828-fbce-4e01-ae9e-261174997c48'
SMP_DEVS = {}


def dev_of(path):
    return '/'.join(path.split('/')[:5])


# ---- a little CBOR: what SMP needs ---------------------------------------

def cbor_head(major, v):
    if v < 24:
        return bytes([major << 5 | v])
    for ai, fmt in ((24, '>B'), (25, '>H'), (26, '>I'), (27, '>Q')):
        if v < 1 << (8 * struct.calcsize(fmt)):
            return bytes([major << 5 | ai]) + struct.pack(fmt, v)
    raise ValueError(v)


def cbor_enc(x, indef=False):
    """indef: maps and arrays of indefinite length, as zcbor writes them."""
    if isinstance(x, bool):
        return b'\xf5' if x else b'\xf4'
    if isinstance(x, int):
        return cbor_head(0, x) if x >= 0 else cbor_head(1, -1 - x)
    if isinstance(x, bytes):
        return cbor_head(2, len(x)) + x
    if isinstance(x, str):
        return cbor_head(3, len(x.encode())) + x.encode()
    if isinstance(x, list):
        body = b''.join(cbor_enc(i, indef) for i in x)
        return (b'\x9f' + body + b'\xff') if indef else cbor_head(4, len(x)) + body
    if isinstance(x, dict):
        body = b''.join(cbor_enc(k, indef) + cbor_enc(v, indef) for k, v in x.items())
        return (b'\xbf' + body + b'\xff') if indef else cbor_head(5, len(x)) + body
    raise TypeError(x)


def cbor_dec(b, i=0):
    ib = b[i]
    major, ai = ib >> 5, ib & 31
    i += 1
    if ai < 24:
        v = ai
    elif ai < 28:
        n = 1 << (ai - 24)
        v = int.from_bytes(b[i:i + n], 'big')
        i += n
    elif ai == 31:
        v = None
    else:
        raise ValueError('bad CBOR')
    if major == 0:
        return v, i
    if major == 1:
        return -1 - v, i
    if major in (2, 3):
        s = b[i:i + v]
        if len(s) != v:
            raise ValueError('truncated CBOR')
        return (bytes(s) if major == 2 else s.decode()), i + v
    if major in (4, 5):
        out = [] if major == 4 else {}
        n = 0
        while v is None or n < v:
            if v is None and b[i] == 0xff:
                i += 1
                break
            k, i = cbor_dec(b, i)
            if major == 5:
                out[k], i = cbor_dec(b, i)
            else:
                out.append(k)
            n += 1
        return out, i
    if major == 7 and ai in (20, 21):
        return ai == 21, i
    raise ValueError('unsupported CBOR')


def mcuboot(data):
    """(version, hash) of an MCUboot image, checking its SHA-256 TLV."""
    magic, hdr_size, img_size = struct.unpack_from('<I4xH2xI', data, 0)
    if magic != 0x96f3b83d:
        return None, None
    major, minor, rev, build = struct.unpack_from('<BBHI', data, 20)
    tlv = hdr_size + img_size
    digest = hashlib.sha256(data[:tlv]).digest()
    if struct.unpack_from('<HH', data, tlv) [0] != 0x6907:
        return None, None
    i = tlv + 4
    while i + 4 <= len(data):
        t, n = struct.unpack_from('<HH', data, i)
        if t == 0x10:
            if data[i + 4:i + 4 + n] != digest:
                return None, None
            return '%d.%d.%d' % (major, minor, rev), digest
        i += 4 + n
    return None, None


class SmpDevice:
    """An MCUmgr SMP server with MCUboot's two slots, in test-swap mode."""

    def __init__(self, mock, mac, version, mtu):
        self.mock, self.mac, self.mtu = mock, mac, mtu
        self.slots = [{'version': version, 'hash': hashlib.sha256(version.encode()).digest(),
                       'confirmed': True}, None]
        self.pending = False
        self.mode = None
        self.upload = None

    def images(self):
        out = []
        for n, s in enumerate(self.slots):
            if s:
                out.append({'image': 0, 'slot': n, 'version': s['version'], 'hash': s['hash'],
                            'bootable': True, 'pending': n == 1 and self.pending,
                            'confirmed': s['confirmed'], 'active': n == 0,
                            'permanent': False})
        return {'images': out, 'splitStatus': 0}

    def answer(self, char, hdr, body):
        op, _, _, group, seq, cid = struct.unpack('>BBHHBB', hdr)
        payload = cbor_enc(body, indef=True)
        frame = struct.pack('>BBHHBB', op + 1, 0, len(payload), group, seq, cid) + payload
        # One notification carries MTU - 3 bytes at most: long answers in pieces.
        step = self.mtu - 3
        for i in range(0, len(frame), step):
            update(char, CHAR, {'Value': dbus.Array([dbus.Byte(x) for x in frame[i:i + step]],
                                                    signature='y', variant_level=1)})

    def request(self, char, frame, options):
        if str(options.get('type', '')) != 'command':
            emit(event='smp-error', error='not a write without response')
        op, _, n, group, seq, cid = struct.unpack_from('>BBHHBB', frame, 0)
        if len(frame) != 8 + n:
            emit(event='smp-error', error='frame length %d, header says %d' % (len(frame), 8 + n))
            return
        req, _ = cbor_dec(frame, 8)
        hdr = frame[:8]
        if (group, cid, op) == (1, 1, 2):
            self.on_upload(char, hdr, req)
        elif (group, cid, op) == (1, 0, 0):
            self.answer(char, hdr, self.images())
        elif (group, cid, op) == (1, 0, 2):
            emit(event='state', mac=self.mac, confirm=bool(req.get('confirm')),
                 hash=req.get('hash', b'').hex())
            s1 = self.slots[1]
            if not req.get('confirm') and s1 and req.get('hash') == s1['hash']:
                self.pending = True
            elif req.get('confirm') and req.get('hash', self.slots[0]['hash']) == \
                    self.slots[0]['hash']:
                self.slots[0]['confirmed'] = True
            else:
                self.answer(char, hdr, {'err': {'group': 1, 'rc': 8}})  # hash not found
                return
            self.answer(char, hdr, self.images())
        elif (group, cid, op) == (0, 5, 2):
            self.answer(char, hdr, {})
            emit(event='reset', mac=self.mac)
            GLib.idle_add(self.go_away)
        else:
            self.answer(char, hdr, {'rc': 8})

    def on_upload(self, char, hdr, req):
        off, data = req.get('off'), req.get('data', b'')
        if self.mode == 'reject':
            # An image the device refuses: bad header magic (SMP v2).
            self.answer(char, hdr, {'err': {'group': 1, 'rc': 23}})
            return
        if off == 0:
            self.upload = {'len': req['len'], 'sha': req.get('sha'), 'data': bytearray()}
        u = self.upload
        if u is None or off != len(u['data']):
            emit(event='smp-error', error='upload at %s, expected %s' %
                 (off, u and len(u['data'])))
            self.answer(char, hdr, {'rc': 0, 'off': len(u['data']) if u else 0})
            return
        u['data'] += data
        self.answer(char, hdr, {'rc': 0, 'off': len(u['data'])})
        if len(u['data']) == u['len']:
            whole = bytes(u['data'])
            version, digest = mcuboot(whole)
            ok = digest is not None and u['sha'] == hashlib.sha256(whole).digest()
            if ok:
                self.slots[1] = {'version': version, 'hash': digest, 'confirmed': False}
                self.pending = False
            emit(event='upload', mac=self.mac, sha256=hashlib.sha256(whole).hexdigest(),
                 size=len(whole), ok=ok)

    def go_away(self):
        path = dev_path(self.mac)
        obj = mockobject.objects[path]
        self.adapter = str(obj.props[DEVICE]['Adapter'])
        disconnect(obj)
        for p in sorted([p for p in mockobject.objects if p.startswith(path + '/')],
                        reverse=True):
            ifaces = list(mockobject.objects[p].props.keys())
            self.mock.main.RemoveObject(p)
            self.mock.main.EmitSignal(OM, 'InterfacesRemoved', 'oas',
                                      [dbus.ObjectPath(p), dbus.Array(ifaces, signature='s')])
        self.mock.main.RemoveObject(path)
        self.mock.main.EmitSignal(OM, 'InterfacesRemoved', 'oas',
                                  [dbus.ObjectPath(path), dbus.Array([DEVICE], signature='s')])
        return False

    def boot(self):
        """MCUboot at power-on: a pending image swaps in (for test)."""
        if self.pending and self.mode != 'rollback':
            self.slots = [self.slots[1], self.slots[0]]
        self.pending = False
        self.mock.cmd(['device', self.adapter.split('/')[-1], self.mac])
        self.mock.add_smp(self.mac, self.mtu)


class Mock:
    def __init__(self, address):
        self.bus = dbus.bus.BusConnection(address)
        self.name = dbus.service.BusName('org.bluez', self.bus, allow_replacement=True,
                                         replace_existing=True, do_not_queue=True)
        # The mock's call log would mix with the events on stdout.
        self.main = mockobject.DBusMockObject(self.name, '/', OM, {}, os.devnull, True)
        self.main.AddTemplate('bluez5', None)
        mockobject.objects['/'] = self.main
        self.n_gatt = 0

    def cmd(self, words):
        verb = words[0]
        if verb == 'adapter':
            self.main.AddAdapter(words[1], 'gatewayd test')
            adapter = mockobject.objects['/org/bluez/' + words[1]]
            # Report the discovery calls the adapter makes.
            adapter.AddMethods('org.bluez.Adapter1', [
                ('SetDiscoveryFilter', 'a{sv}', '',
                 lambda self, f: emit(event='filter', path=self.path,
                                      filter={str(k): str(v) if isinstance(v, dbus.String)
                                              else bool(v) for k, v in f.items()})),
                ('StartDiscovery', '', '',
                 lambda self: emit(event='discovery', path=self.path)),
            ])
        elif verb == 'remove-adapter':
            self.main.RemoveAdapterWithDevices(words[1])
        elif verb == 'device':
            path = self.main.AddDevice(words[1], words[2], 'sensor')
            obj = mockobject.objects[path]
            obj.AddMethods(DEVICE, [('Connect', '', '', connect),
                                    ('Disconnect', '', '', disconnect)])
            obj.hold = len(words) > 3 and words[3] == 'hold'
        elif verb == 'resolve':
            update(mockobject.objects[dev_path(words[1])], DEVICE,
                   {'ServicesResolved': dbus.Boolean(True, variant_level=1)})
        elif verb in ('sdata', 'mfr'):
            obj = mockobject.objects[dev_path(words[1])]
            if verb == 'sdata':
                data = dbus.Dictionary({full_uuid(words[2]): ay(words[3])}, signature='sv',
                                       variant_level=1)
                props = {'ServiceData': data}
            else:
                data = dbus.Dictionary({dbus.UInt16(int(words[2], 0)): ay(words[3])},
                                       signature='qv', variant_level=1)
                props = {'ManufacturerData': data}
            if len(words) > 4:
                props['RSSI'] = dbus.Int16(int(words[4]), variant_level=1)
            update(obj, DEVICE, props)
        elif verb == 'gatt':
            self.add_gatt(words[1], words[2], words[3], words[4])
        elif verb == 'notify':
            obj = mockobject.objects[char_path(words[1], full_uuid(words[2]))]
            update(obj, CHAR, {'Value': ay(words[3])})
        elif verb == 'smp':
            mtu = int(words[3]) if len(words) > 3 else 185
            SMP_DEVS[dev_path(words[1])] = SmpDevice(self, words[1], words[2], mtu)
            self.add_smp(words[1], mtu)
        elif verb == 'smp-mode':
            SMP_DEVS[dev_path(words[1])].mode = words[2]
        elif verb == 'boot':
            dev = next(d for d in SMP_DEVS.values() if d.mac == words[1])
            dev.boot()
            SMP_DEVS[dev_path(words[1])] = dev
        elif verb == 'disconnect':
            disconnect(mockobject.objects[dev_path(words[1])])
        elif verb == 'restart':
            # bluetoothd stops (its name goes) and starts again.
            self.bus.release_name('org.bluez')
            self.bus.request_name('org.bluez', dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        else:
            raise ValueError('unknown command ' + verb)

    def add_smp(self, mac, mtu):
        self.add_gatt(mac, SMP_SVC, SMP_CHAR, '', {'MTU': dbus.UInt16(mtu, variant_level=1)})

    def add_gatt(self, mac, svc, char, value, extra=None):
        dpath = dev_path(mac)
        self.n_gatt += 1
        spath = '%s/service%04x' % (dpath, self.n_gatt)
        cpath = '%s/char%04x' % (spath, self.n_gatt)
        sprops = {'UUID': dbus.String(full_uuid(svc), variant_level=1),
                  'Device': dbus.ObjectPath(dpath, variant_level=1),
                  'Primary': dbus.Boolean(True, variant_level=1)}
        cprops = {'UUID': dbus.String(full_uuid(char), variant_level=1),
                  'Service': dbus.ObjectPath(spath, variant_level=1),
                  'Value': ay(value),
                  'Notifying': dbus.Boolean(False, variant_level=1),
                  'Flags': dbus.Array(['read', 'write', 'notify'], signature='s',
                                      variant_level=1)}
        cprops.update(extra or {})
        self.main.AddObject(spath, SERVICE, sprops, [])
        self.main.AddObject(cpath, CHAR, cprops, [
            ('ReadValue', 'a{sv}', 'ay', read_value),
            ('WriteValue', 'aya{sv}', '', write_value),
            ('StartNotify', '', '', start_notify),
            ('StopNotify', '', '', stop_notify),
        ])
        self.main.EmitSignal(OM, 'InterfacesAdded', 'oa{sa{sv}}',
                             [dbus.ObjectPath(spath), {SERVICE: sprops}])
        self.main.EmitSignal(OM, 'InterfacesAdded', 'oa{sa{sv}}',
                             [dbus.ObjectPath(cpath), {CHAR: cprops}])

    def on_stdin(self, fd, cond):
        line = sys.stdin.readline()
        if not line:
            loop.quit()
            return False
        words = line.split()
        if not words:
            return True
        try:
            self.cmd(words)
            emit(event='done', cmd=words[0])
        except Exception as e:  # reported to the test, which fails
            emit(event='failed', cmd=words[0], error=str(e))
        return True


if __name__ == '__main__':
    dbus.mainloop.glib.DBusGMainLoop(set_as_default=True)
    mock = Mock(sys.argv[1])
    loop = GLib.MainLoop()
    GLib.io_add_watch(sys.stdin.fileno(), GLib.IO_IN | GLib.IO_HUP, mock.on_stdin)
    emit(event='ready', version=getattr(dbusmock, '__version__', '?'))
    loop.run()
