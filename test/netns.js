// A small virtual cluster on this machine for fault tests: every "host" is a Linux network namespace joined to
// one or more networks (a bridge each, living in a switch namespace of the cluster's own) by veth pairs, on
// private /24s that exist only inside these namespaces. Cutting a host off a network sets its port on that
// bridge down; healing sets it up. Needs root (CI runs as root); `netnsUnavailable()` says why not otherwise.
//
// Names carry a prefix unique to this process (`hw<pid>x<n>`), so concurrent test files never collide, and a
// cluster whose process died is recognised by its pid and removed by the next `VirtualCluster.create`.
import { execFileSync, spawn } from 'node:child_process';
import { alive } from './processes.js';

const IP = '/usr/sbin/ip';
const PREFIX = 'hw';
let clusters = 0;

/** Why namespaces cannot be made here (not root, no `ip`), or null when they can. */
export function netnsUnavailable() {
  if (typeof process.getuid === 'function' && process.getuid() !== 0) return 'network namespaces need root (CI runs as root)';
  try {
    execFileSync(IP, ['netns', 'list'], { stdio: 'pipe' });
  } catch (error) {
    return `\`ip netns\` does not work here: ${error.message.split('\n')[0]}`;
  }
  return null;
}

function ip(...args) {
  return execFileSync(IP, args, { stdio: 'pipe', encoding: 'utf8' });
}

function namespaces() {
  return ip('netns', 'list')
    .split('\n')
    .map((line) => line.split(' ')[0])
    .filter(Boolean);
}

/** Removes the namespaces of clusters whose process is gone (a test killed before its cleanup). */
function removeOrphans() {
  for (const name of namespaces()) {
    const owner = /^hw(\d+)x\d+-/.exec(name);
    if (owner && !alive(Number(owner[1]))) ip('netns', 'del', name);
  }
}

export class VirtualCluster {
  /** @param {string} prefix */
  constructor(prefix) {
    this.prefix = prefix;
    this.switchNs = `${prefix}-sw`;
    /** @type {Map<string, { subnet: number, bridge: string, hosts: number }>} */
    this.networks = new Map();
    /** @type {Map<string, { ns: string, addresses: Map<string, string>, ports: Map<string, string> }>} */
    this.hosts = new Map();
    /** @type {Set<import('node:child_process').ChildProcess>} */
    this.children = new Set();
    this.onExit = () => this.destroySync();
  }

  /** A cluster with no hosts yet; `destroy` (or process exit) removes everything it made. */
  static create() {
    removeOrphans();
    const cluster = new VirtualCluster(`${PREFIX}${process.pid}x${clusters++}`);
    ip('netns', 'add', cluster.switchNs);
    ip('-n', cluster.switchNs, 'link', 'set', 'lo', 'up');
    process.once('exit', cluster.onExit);
    return cluster;
  }

  /** A network (a bridge in the switch namespace) on 10.<subnet>.<subnet2>.0/24; `name` is short, e.g. 'lan'. */
  addNetwork(name) {
    const index = this.networks.size;
    // A /24 per network from a range no real interface here uses; varied by pid so that clusters differ.
    const subnet = 200 + ((process.pid + clusters * 7 + index) % 50);
    const bridge = `br${index}`;
    ip('-n', this.switchNs, 'link', 'add', bridge, 'type', 'bridge');
    ip('-n', this.switchNs, 'link', 'set', bridge, 'up');
    this.networks.set(name, { subnet, bridge, hosts: 0, index });
    return name;
  }

  /** A host (a namespace with its loopback up) on the given networks; returns its address on each. */
  addHost(name, networkNames) {
    const ns = `${this.prefix}-${name}`;
    ip('netns', 'add', ns);
    ip('-n', ns, 'link', 'set', 'lo', 'up');
    const host = { ns, addresses: new Map(), ports: new Map() };
    for (const networkName of networkNames) {
      const network = this.networks.get(networkName);
      if (!network) throw new Error(`addHost ${name}: no network ${networkName}`);
      network.hosts++;
      const address = `10.${network.subnet}.${network.index}.${network.hosts}`;
      // veth names are at most 15 characters and only need to be unique inside their namespace.
      const inside = `eth${network.index}`;
      const port = `h${this.hosts.size}n${network.index}`;
      ip('-n', ns, 'link', 'add', inside, 'type', 'veth', 'peer', 'name', port, 'netns', this.switchNs);
      ip('-n', ns, 'addr', 'add', `${address}/24`, 'dev', inside);
      ip('-n', ns, 'link', 'set', inside, 'up');
      ip('-n', this.switchNs, 'link', 'set', port, 'master', network.bridge);
      ip('-n', this.switchNs, 'link', 'set', port, 'up');
      host.addresses.set(networkName, address);
      host.ports.set(networkName, port);
    }
    this.hosts.set(name, host);
    return Object.fromEntries(host.addresses);
  }

  host(name) {
    const host = this.hosts.get(name);
    if (!host) throw new Error(`no host ${name}`);
    return host;
  }

  /** Starts `command args` inside host `name`'s namespace; the cluster kills it on `destroy`. */
  spawn(name, command, args, options = {}) {
    const child = spawn(IP, ['netns', 'exec', this.host(name).ns, command, ...args], { stdio: 'pipe', ...options });
    this.children.add(child);
    child.once('exit', () => this.children.delete(child));
    return child;
  }

  /** Runs `command args` inside host `name`'s namespace to completion (stdout as text; throws on failure). */
  run(name, command, args, options = {}) {
    return execFileSync(IP, ['netns', 'exec', this.host(name).ns, command, ...args], { stdio: 'pipe', encoding: 'utf8', ...options });
  }

  /** Cuts host `name` off network `network` (every network when absent): its bridge port goes down. */
  cut(name, network) {
    this.setPorts(name, network, 'down');
  }

  /** Undoes `cut`. */
  heal(name, network) {
    this.setPorts(name, network, 'up');
  }

  setPorts(name, network, state) {
    const host = this.host(name);
    const ports = network === undefined ? [...host.ports.values()] : [host.ports.get(network)];
    for (const port of ports) {
      if (!port) throw new Error(`host ${name} is not on network ${network}`);
      ip('-n', this.switchNs, 'link', 'set', port, state);
    }
  }

  /** Kills what it started and removes every namespace it made (their veths and bridges go with them). */
  destroySync() {
    for (const child of this.children) child.kill('SIGKILL');
    this.children.clear();
    for (const ns of namespaces()) {
      if (ns.startsWith(`${this.prefix}-`)) {
        try {
          ip('netns', 'del', ns);
        } catch {
          // Already gone: nothing to remove.
        }
      }
    }
    process.removeListener('exit', this.onExit);
  }

  async destroy() {
    const exits = [...this.children].map((child) => new Promise((resolve) => (child.exitCode !== null || child.signalCode !== null ? resolve() : child.once('exit', resolve))));
    for (const child of this.children) child.kill('SIGKILL');
    await Promise.all(exits);
    this.destroySync();
  }

  /** Names of this cluster's namespaces that still exist (empty after `destroy`). */
  leftovers() {
    return namespaces().filter((ns) => ns.startsWith(`${this.prefix}-`));
  }
}
