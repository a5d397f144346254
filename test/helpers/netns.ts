/**
 * Several hosts on one machine for multi-host tests, built from Linux network namespaces with
 * iproute2's `ip` (root only). Each host is a namespace with loopback up and one interface,
 * `eth0`, holding its own address on a private /24; a veth pair joins it to a bridge that
 * lives in a namespace of its own. So nothing is added to or changed on the machine's own
 * network: the root namespace never sees a link, an address or a route of ours.
 *
 * ```text
 *   <prefix>lan:   bridge lan0 ── port <host> ┐   (one port per host, named after it)
 *   <prefix><host>:  lo, eth0 10.213.X.(10+i)/24 ┘ (the other end of that veth pair)
 * ```
 *
 * The prefix is `bigfs<pid>-`, the test process's pid, and X is drawn at random per run (the
 * subnet cannot collide anyway: each run's is on a bridge of its own). Before building, the
 * leftovers of a run that died without cleaning up (a prefix whose pid is gone, or ours from a
 * run that had our pid) are removed: the processes still inside are killed, the namespaces
 * deleted. {@linkcode VirtualHosts.destroy} does the same for this run; it also runs on exit
 * and on SIGINT or SIGTERM of the test process.
 *
 * Faults: {@linkcode VirtualHosts.setLink} takes a host's bridge port down (a cable pulled:
 * its `eth0` loses carrier, packets both ways are lost) and up again;
 * {@linkcode VirtualHosts.setBlocked} adds a blackhole route on one host for another's
 * address: packets on open connections vanish silently, new connections fail at once.
 */
import { execFile, execFileSync } from "node:child_process";
import { existsSync } from "node:fs";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);

/** Where iproute2's `ip` may be; the first that exists is used. */
const ipCandidates = ["/usr/sbin/ip", "/sbin/ip", "/usr/bin/ip", "/bin/ip"];

/** A host name: it names the host's bridge port, so it must fit an interface name. */
const hostNamePattern = /^[a-z][a-z0-9]{0,9}$/;

/** Namespaces of our making: `bigfs<pid>-<name>`. */
const ownNamePattern = /^bigfs(\d+)-[a-z0-9]+$/;

/** Every set of hosts not destroyed yet, for the exit and signal handlers. */
const live = new Set<VirtualHosts>();

/** Hosts in network namespaces joined by a bridge; see the module doc. */
export class VirtualHosts {
  /** The first three octets of the subnet, such as `10.213.57`. */
  readonly subnet: string;
  readonly #ip: string;
  readonly #prefix: string;
  readonly #hosts: readonly string[];
  /** Namespaces created so far, in creation order. */
  readonly #namespaces: string[] = [];

  private constructor(ip: string, prefix: string, subnet: string, hosts: readonly string[]) {
    this.#ip = ip;
    this.#prefix = prefix;
    this.subnet = subnet;
    this.#hosts = hosts;
  }

  /**
   * Builds the bridge and one namespace per host, removing leftovers of dead runs first.
   *
   * @throws {Error} when not root, when `ip` is missing, or naming the `ip` command that failed
   * (whatever was built is removed again).
   */
  static async create(hosts: readonly string[]): Promise<VirtualHosts> {
    for (const host of hosts) {
      if (!hostNamePattern.test(host) || host === "lan") {
        throw new RangeError(
          `Cannot build virtual hosts: "${host}" is not a host name (a-z then up to 9 of a-z0-9, not "lan")`,
        );
      }
    }
    if (new Set(hosts).size !== hosts.length) {
      throw new RangeError(`Cannot build virtual hosts: a name repeats in ${hosts.join(", ")}`);
    }
    if (hosts.length > 200) throw new RangeError("Cannot build virtual hosts: at most 200");
    if (process.getuid?.() !== 0) {
      throw new Error(
        "Cannot build virtual hosts: network namespaces need root (CI runs the suite as root)",
      );
    }
    if (live.size > 0) {
      // Names carry only the pid: two sets at once in one process would share them.
      throw new Error(
        "Cannot build virtual hosts: this process already has a set; destroy it first",
      );
    }
    const ip = ipCommand();
    removeLeftovers(ip);
    const subnet = `10.213.${Math.floor(Math.random() * 256)}`;
    const virtual = new VirtualHosts(ip, `bigfs${process.pid}-`, subnet, hosts);
    live.add(virtual);
    installHandlers();
    try {
      await virtual.#build();
    } catch (error) {
      virtual.destroy();
      throw error;
    }
    return virtual;
  }

  /** The host's address, such as `10.213.57.12`. */
  address(host: string): string {
    return `${this.subnet}.${10 + this.#index(host)}`;
  }

  /** The command prefix that runs a program inside the host: `ip netns exec <namespace>`. */
  launcher(host: string): string[] {
    return [this.#ip, "netns", "exec", this.#namespace(host)];
  }

  /** Runs `ip ...args` inside the host's namespace; resolves with its stdout. */
  async ip(host: string, args: readonly string[]): Promise<string> {
    return this.#run(["-n", this.#namespace(host), ...args]);
  }

  /** Takes the host's bridge port down (`"down"`: its cable pulled) or up again. */
  async setLink(host: string, state: "up" | "down"): Promise<void> {
    await this.#run(["-n", this.#lan, "link", "set", "dev", this.#port(host), state]);
  }

  /**
   * On host `from`, drops (`true`) or again lets through (`false`) every packet to host `to`,
   * with a blackhole route for `to`'s address: traffic between the two stops, the rest flows.
   */
  async setBlocked(from: string, to: string, blocked: boolean): Promise<void> {
    const route = ["blackhole", `${this.address(to)}/32`];
    await this.ip(from, ["route", blocked ? "add" : "del", ...route]);
  }

  /**
   * Kills every process still inside the namespaces and deletes them, which removes the
   * veth pairs and the bridge with them. Synchronous, so that exit and signal handlers can
   * run it; safe to call more than once.
   */
  destroy(): void {
    live.delete(this);
    // Hosts first, then the bridge's namespace (created first).
    for (const namespace of this.#namespaces.splice(0).reverse()) {
      removeNamespace(this.#ip, namespace);
    }
  }

  get #lan(): string {
    return `${this.#prefix}lan`;
  }

  #namespace(host: string): string {
    this.#index(host);
    return `${this.#prefix}${host}`;
  }

  #port(host: string): string {
    this.#index(host);
    return host;
  }

  #index(host: string): number {
    const index = this.#hosts.indexOf(host);
    if (index < 0) throw new RangeError(`No virtual host ${host} (${this.#hosts.join(", ")})`);
    return index;
  }

  async #build(): Promise<void> {
    await this.#addNamespace(this.#lan);
    await this.#run(["-n", this.#lan, "link", "add", "name", "lan0", "type", "bridge"]);
    await this.#run(["-n", this.#lan, "link", "set", "dev", "lan0", "up"]);
    for (const host of this.#hosts) {
      const namespace = this.#namespace(host);
      await this.#addNamespace(namespace);
      await this.ip(host, ["link", "set", "dev", "lo", "up"]);
      // Made inside the bridge's namespace with its peer placed straight into the host's:
      // neither end ever exists in the root namespace.
      await this.#run([
        ...["-n", this.#lan, "link", "add", "name", this.#port(host), "type", "veth"],
        ...["peer", "name", "eth0", "netns", namespace],
      ]);
      await this.#run(["-n", this.#lan, "link", "set", "dev", this.#port(host), "master", "lan0"]);
      await this.#run(["-n", this.#lan, "link", "set", "dev", this.#port(host), "up"]);
      await this.ip(host, ["addr", "add", `${this.address(host)}/24`, "dev", "eth0"]);
      await this.ip(host, ["link", "set", "dev", "eth0", "up"]);
    }
  }

  async #addNamespace(namespace: string): Promise<void> {
    // Known before it exists, so that a failure half-way still removes it.
    this.#namespaces.push(namespace);
    await this.#run(["netns", "add", namespace]);
  }

  async #run(args: readonly string[]): Promise<string> {
    try {
      const { stdout } = await execFileAsync(this.#ip, args, { timeout: 10_000 });
      return stdout;
    } catch (error) {
      const stderr = (error as { stderr?: string }).stderr?.trim();
      throw new Error(`Cannot run ip ${args.join(" ")}: ${stderr || (error as Error).message}`);
    }
  }
}

/**
 * The path of iproute2's `ip`.
 *
 * @throws {Error} when it is not installed.
 */
export function ipCommand(): string {
  const ip = ipCandidates.find((path) => existsSync(path));
  if (ip === undefined) {
    throw new Error(
      `Cannot build virtual hosts: iproute2's ip is not installed (looked in ${ipCandidates.join(", ")})`,
    );
  }
  return ip;
}

/** Removes namespaces left by runs that died: ours (an earlier run with our pid) or a dead pid's. */
function removeLeftovers(ip: string): void {
  const listing = execFileSync(ip, ["netns", "list"], { encoding: "utf8" });
  for (const line of listing.split("\n")) {
    const name = line.split(" ")[0] ?? "";
    const match = ownNamePattern.exec(name);
    if (match === null) continue;
    const pid = Number(match[1]);
    if (pid === process.pid || !isRunning(pid)) removeNamespace(ip, name);
  }
}

/** Kills the processes inside a namespace and deletes it; quiet when it is already gone. */
function removeNamespace(ip: string, namespace: string): void {
  let pids: number[] = [];
  try {
    const listing = execFileSync(ip, ["netns", "pids", namespace], {
      encoding: "utf8",
      stdio: ["ignore", "pipe", "ignore"],
    });
    pids = listing.split(/\s+/).filter(Boolean).map(Number);
  } catch {
    // No such namespace, or a name that is not one any more: deleting it below is still right.
  }
  for (const pid of pids) {
    try {
      process.kill(pid, "SIGKILL");
    } catch {}
  }
  try {
    execFileSync(ip, ["netns", "delete", namespace], { stdio: "ignore" });
  } catch {}
}

function isRunning(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (error) {
    return (error as NodeJS.ErrnoException).code === "EPERM";
  }
}

let handlersInstalled = false;

/** Destroys every live set of hosts when the process exits or is told to stop. */
function installHandlers(): void {
  if (handlersInstalled) return;
  handlersInstalled = true;
  const destroyAll = () => {
    for (const virtual of [...live]) virtual.destroy();
  };
  process.on("exit", destroyAll);
  // `on`, not `once`: with no listener left, a second signal during the clean-up would kill
  // the process on the spot, half-way through it.
  let stopping = false;
  for (const [signal, number] of [
    ["SIGINT", 2],
    ["SIGTERM", 15],
  ] as const) {
    process.on(signal, () => {
      if (stopping) return;
      stopping = true;
      destroyAll();
      process.exit(128 + number);
    });
  }
}
