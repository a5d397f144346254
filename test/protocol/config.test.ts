import { resolve } from "node:path";
import { test } from "uvu";
import * as assert from "uvu/assert";
import {
  type Config,
  ConfigError,
  formatUsage,
  type HostPort,
  parseConfig,
} from "../../protocol/config.js";

const spec = {
  dataDir: { flag: "data-dir", type: "path", required: true, description: "Where chunks live" },
  port: { flag: "port", type: "port", default: 9000 },
  chunkSize: { flag: "chunk-size", type: "size", default: 64 * 1024 * 1024 },
  deadAfter: { flag: "dead-after", type: "duration", default: 10_000 },
  host: { flag: "host", type: "string", default: "127.0.0.1" },
  namenode: { flag: "namenode", type: "hostport", required: true },
  recover: { flag: "recover", type: "boolean", default: false },
  replication: { flag: "replication", type: "integer", default: 3, min: 1, max: 32 },
  label: { flag: "label", type: "string" },
  quota: { flag: "quota", type: "size" },
  verbose: { flag: "verbose", type: "boolean" },
} as const;

const required = ["--data-dir", "/data", "--namenode", "nn:8020"];

/** Parses `argv` plus the required flags against `spec`. */
function parse(...argv: string[]) {
  return parseConfig(spec, [...required, ...argv], { cwd: "/work" });
}

/** Asserts that parsing fails with a ConfigError with exactly this message, flag and value. */
function refuses(
  argv: string[],
  message: string,
  fields: { flag?: string | undefined; value?: string | undefined } = {},
) {
  try {
    parseConfig(spec, argv, { cwd: "/work" });
  } catch (error) {
    assert.instance(error, ConfigError);
    const configError = error as ConfigError;
    assert.is(configError.name, "ConfigError");
    assert.is(configError.message, message);
    if ("flag" in fields) assert.is(configError.flag, fields.flag);
    if ("value" in fields) assert.is(configError.value, fields.value);
    return;
  }
  assert.unreachable(`${argv.join(" ")} was accepted`);
}

// Type inference, checked by the compiler: defaults, required flags and booleans are always
// set; the rest may be undefined.
type Equal<A, B> =
  (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false;
const inferred: Equal<
  Config<typeof spec>,
  {
    readonly dataDir: string;
    readonly port: number;
    readonly chunkSize: number;
    readonly deadAfter: number;
    readonly host: string;
    readonly namenode: HostPort;
    readonly recover: boolean;
    readonly replication: number;
    readonly label: string | undefined;
    readonly quota: number | undefined;
    readonly verbose: boolean;
  }
> = true;
const fromCall: Equal<ReturnType<typeof parse>, Config<typeof spec>> = true;
// A spec written inline, without `as const`, is inferred just as precisely.
const inline = () => parseConfig({ size: { flag: "size", type: "size" } }, []);
const inlineInferred: Equal<
  ReturnType<typeof inline>,
  { readonly size: number | undefined }
> = true;

test("the parsed config's type follows the spec", () => {
  assert.ok(inferred && fromCall && inlineInferred);
  const config = parse();
  const port: number = config.port;
  // @ts-expect-error a flag without default or `required` may be undefined
  const label: string = config.label;
  const mutate = () => {
    // @ts-expect-error the config is read-only
    config.port = 1;
  };
  assert.throws(mutate, TypeError);
  assert.is(port, 9000);
  assert.is(label, undefined);
});

test("flags not given take their defaults; optional ones are undefined, booleans false", () => {
  assert.equal(parse(), {
    dataDir: "/data",
    port: 9000,
    chunkSize: 64 * 1024 * 1024,
    deadAfter: 10_000,
    host: "127.0.0.1",
    namenode: { host: "nn", port: 8020 },
    recover: false,
    replication: 3,
    label: undefined,
    quota: undefined,
    verbose: false,
  });
  assert.ok(Object.isFrozen(parse()));
});

test("every type is read, written as --flag value or --flag=value", () => {
  const config = parseConfig(
    spec,
    [
      "--data-dir=data/dn1",
      "--port",
      "0",
      "--chunk-size=1MiB",
      "--dead-after",
      "1m30s",
      "--host=::",
      "--namenode",
      "[::1]:9000",
      "--recover",
      "--replication=32",
      "--label",
      "a=b c",
      "--quota=1.5GiB",
      "--verbose=false",
    ],
    { cwd: "/work" },
  );
  assert.equal(config, {
    dataDir: "/work/data/dn1",
    port: 0,
    chunkSize: 1024 * 1024,
    deadAfter: 90_000,
    host: "::",
    namenode: { host: "::1", port: 9000 },
    recover: true,
    replication: 32,
    label: "a=b c",
    quota: 1.5 * 1024 * 1024 * 1024,
    verbose: false,
  });
});

test("a path is resolved against the working folder, which defaults to the process's", () => {
  assert.is(
    parseConfig(spec, ["--data-dir", "../x", "--namenode", "nn:1"], { cwd: "/work" }).dataDir,
    "/x",
  );
  const config = parseConfig(spec, ["--data-dir", "here", "--namenode", "nn:1"]);
  assert.is(config.dataDir, resolve("here"));
});

test("a boolean flag is true alone, and takes =true or =false", () => {
  assert.is(parse("--recover").recover, true);
  assert.is(parse("--recover=true").recover, true);
  assert.is(parse("--recover=false").recover, false);
  refuses(
    [...required, "--recover=yes"],
    'Invalid value for --recover: "yes" is not a boolean (true or false)',
    { flag: "recover", value: "yes" },
  );
});

test("a boolean flag does not take the next argument, and the error says how to write it", () => {
  refuses(
    [...required, "--recover", "false"],
    'Unexpected argument "false": only --flags are accepted; write --recover=false to set a boolean flag',
    { flag: undefined, value: "false" },
  );
});

test("host:port takes names, IPv4, and bracketed IPv6", () => {
  const cases: [string, HostPort][] = [
    ["localhost:1", { host: "localhost", port: 1 }],
    ["10.0.0.1:65535", { host: "10.0.0.1", port: 65535 }],
    ["[::1]:9000", { host: "::1", port: 9000 }],
    ["[fe80::1%eth0]:80", { host: "fe80::1%eth0", port: 80 }],
  ];
  for (const [text, address] of cases) {
    assert.equal(parseConfig(spec, ["--data-dir=/d", `--namenode=${text}`]).namenode, address);
  }
});

const badValues: [string, string, string][] = [
  ["port", "70000", "is not a port number (0-65535)"],
  ["port", "-1", "is not a port number (0-65535)"],
  ["port", "80.5", "is not a port number (0-65535)"],
  ["port", "0x50", "is not a port number (0-65535)"],
  ["port", "http", "is not a port number (0-65535)"],
  ["replication", "0", "is not an integer (1 to 32)"],
  ["replication", "33", "is not an integer (1 to 32)"],
  ["replication", "2.5", "is not an integer (1 to 32)"],
  ["replication", "3x", "is not an integer (1 to 32)"],
  [
    "chunk-size",
    "12Qb",
    "is not a size: expected a number of bytes with an optional unit (B, KiB, MiB, GiB, TiB, PiB)",
  ],
  [
    "chunk-size",
    "64MB",
    'is not a size: "MB" is ambiguous, write "MiB" for 1024-based units or bytes',
  ],
  [
    "chunk-size",
    "-1",
    "is not a size: expected a number of bytes with an optional unit (B, KiB, MiB, GiB, TiB, PiB)",
  ],
  [
    "dead-after",
    "10 sec",
    "is not a duration: expected a number of milliseconds or a number with a unit (ms, s, m, h, d), such as 1m30s",
  ],
  ["dead-after", "0.5ms", "is not a duration: not a whole number of milliseconds"],
  ["namenode", "nn", "is not a host:port address (such as 127.0.0.1:9000 or [::1]:9000)"],
  ["namenode", "nn:", "is not a host:port address (such as 127.0.0.1:9000 or [::1]:9000)"],
  ["namenode", ":9000", "is not a host:port address (such as 127.0.0.1:9000 or [::1]:9000)"],
  ["namenode", "::1:9000", "is not a host:port address (such as 127.0.0.1:9000 or [::1]:9000)"],
  ["namenode", "nn:99999", "is not a host:port address (such as 127.0.0.1:9000 or [::1]:9000)"],
  ["host", "", "is empty"],
  ["data-dir", "", "is empty"],
];

test("a bad value is refused with a message naming the flag and the value", () => {
  for (const [flag, value, detail] of badValues) {
    const given = new Map([
      ["data-dir", "/d"],
      ["namenode", "nn:1"],
      [flag, value],
    ]);
    refuses(
      [...given].map(([name, text]) => `--${name}=${text}`),
      `Invalid value for --${flag}: ${JSON.stringify(value)} ${detail}`,
      { flag, value },
    );
    // Written as two arguments, the message is the same.
    if (value !== "") {
      refuses(
        [...given].flatMap(([name, text]) => [`--${name}`, text]),
        `Invalid value for --${flag}: ${JSON.stringify(value)} ${detail}`,
      );
    }
  }
});

test("a refused size or duration keeps the parser's error as the cause", () => {
  try {
    parse("--chunk-size", "1.5");
  } catch (error) {
    assert.instance((error as ConfigError).cause, RangeError);
    return;
  }
  assert.unreachable();
});

test("an unknown flag is refused, suggesting the closest known one", () => {
  refuses(["--replicaton=2"], "Unknown flag --replicaton: did you mean --replication?", {
    flag: "replicaton",
    value: undefined,
  });
  refuses(["--datadir", "/d"], "Unknown flag --datadir: did you mean --data-dir?");
  refuses(["--verbos"], "Unknown flag --verbos: did you mean --verbose?");
  refuses(["--zookeeper", "z:1"], "Unknown flag --zookeeper", { flag: "zookeeper" });
});

test("short flags and positional arguments are refused", () => {
  refuses(["-p", "9000"], 'Unexpected argument "-p": only --flags are accepted', { value: "-p" });
  refuses([...required, "extra"], 'Unexpected argument "extra": only --flags are accepted');
  refuses([...required, "--"], 'Unexpected argument "--": only --flags are accepted');
});

test("a flag without its value is refused", () => {
  refuses(["--data-dir"], "Missing value for --data-dir", { flag: "data-dir" });
  refuses(["--port", "--data-dir", "/d"], "Missing value for --port", { flag: "port" });
});

test("a repeated flag is refused, naming both values", () => {
  refuses([...required, "--port", "1", "--port=2"], 'Repeated flag --port: given "1", then "2"', {
    flag: "port",
    value: "2",
  });
  refuses(
    [...required, "--recover", "--recover"],
    'Repeated flag --recover: given "true", then "true"',
  );
});

test("a missing required flag is refused, naming it", () => {
  refuses(["--data-dir=/d"], "Missing required flag --namenode", { flag: "namenode" });
  refuses([], "Missing required flag --data-dir", { flag: "data-dir" });
});

test("a broken spec is a bug and throws a TypeError", () => {
  const broken = [
    { a: { flag: "--port", type: "port" } },
    { a: { flag: "port", type: "port" }, b: { flag: "port", type: "integer" } },
    { a: { flag: "port", type: "port", required: true, default: 1 } },
    { a: { flag: "port", type: "port", min: 1 } },
  ] as const;
  for (const bad of broken) assert.throws(() => parseConfig(bad, []), TypeError);
});

test("the usage text lists each flag with its type, notes and default", () => {
  assert.is(
    formatUsage(spec),
    [
      "  --data-dir <path>        Where chunks live (required)",
      "  --port <port>            (default: 9000)",
      "  --chunk-size <size>      (default: 64 MiB)",
      "  --dead-after <duration>  (default: 10s)",
      "  --host <string>          (default: 127.0.0.1)",
      "  --namenode <host:port>   (required)",
      "  --recover                (default: false)",
      "  --replication <integer>  (1 to 32) (default: 3)",
      "  --label <string>",
      "  --quota <size>",
      "  --verbose                (default: false)",
    ].join("\n"),
  );
  const ipv6 = { nn: { flag: "nn", type: "hostport", default: { host: "::1", port: 1 } } } as const;
  assert.is(formatUsage(ipv6), "  --nn <host:port>  (default: [::1]:1)");
});

test.run();
