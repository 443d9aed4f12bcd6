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
"""
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
    emit(event='write', path=self.path, uuid=str(self.props[CHAR]['UUID']),
         value=bytes(value).hex())
    self.props[CHAR]['Value'] = dbus.Array(value, signature='y')


def start_notify(self):
    emit(event='start_notify', path=self.path, uuid=str(self.props[CHAR]['UUID']))
    self.props[CHAR]['Notifying'] = dbus.Boolean(True)


def stop_notify(self):
    self.props[CHAR]['Notifying'] = dbus.Boolean(False)


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
            dpath = dev_path(words[1])
            self.n_gatt += 1
            spath = '%s/service%04x' % (dpath, self.n_gatt)
            cpath = '%s/char%04x' % (spath, self.n_gatt)
            sprops = {'UUID': dbus.String(full_uuid(words[2]), variant_level=1),
                      'Device': dbus.ObjectPath(dpath, variant_level=1),
                      'Primary': dbus.Boolean(True, variant_level=1)}
            cprops = {'UUID': dbus.String(full_uuid(words[3]), variant_level=1),
                      'Service': dbus.ObjectPath(spath, variant_level=1),
                      'Value': ay(words[4]),
                      'Notifying': dbus.Boolean(False, variant_level=1),
                      'Flags': dbus.Array(['read', 'write', 'notify'], signature='s',
                                          variant_level=1)}
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
        elif verb == 'notify':
            obj = mockobject.objects[char_path(words[1], full_uuid(words[2]))]
            update(obj, CHAR, {'Value': ay(words[3])})
        elif verb == 'disconnect':
            disconnect(mockobject.objects[dev_path(words[1])])
        elif verb == 'restart':
            # bluetoothd stops (its name goes) and starts again.
            self.bus.release_name('org.bluez')
            self.bus.request_name('org.bluez', dbus.bus.NAME_FLAG_DO_NOT_QUEUE)
        else:
            raise ValueError('unknown command ' + verb)

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
