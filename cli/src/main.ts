// Entry point of the `clarus` command. Each subcommand lives in its workspace and is loaded lazily,
// so `clarus proxy` never loads operator code and vice versa.
type Command = (argv: string[]) => Promise<number>;

const commands: Record<string, () => Promise<Command>> = {
  proxy: async () => (await import('@clarus/sidecar/cli.ts')).main,
  operator: async () => (await import('@clarus/operator/cli.ts')).main,
  policy: async () => (await import('./policy.ts')).main,
  keys: async () => (await import('./keys.ts')).main,
  anonymize: async () => (await import('./anonymize.ts')).main,
  // What `kubectl clarus` runs (cli/bin/kubectl-clarus is this executable under the plugin's name).
  kubectl: async () => (await import('./kubectl/main.ts')).main,
};

function usage(): string {
  return [
    'usage: clarus <command> [options]',
    '',
    '  proxy     run the protection proxy from a rendered configuration directory',
    '  operator  run the Kubernetes operator',
    '  policy    validate | render | explain | import security policies offline',
    '  kubectl   status | grants | explain | metrics | audit verify|tail|query (the kubectl clarus plugin)',
    '  keys      generate | rotate | wrap | rewrap | reencrypt keyrings (wrapped by Vault transit with --vault-address)',
    '  anonymize microaggregate a CSV file as a policy says, and print the k-anonymity report',
  ].join('\n');
}

async function run(argv: string[]): Promise<number> {
  const [name, ...rest] = argv;
  const load = name ? commands[name] : undefined;
  if (!load) {
    process.stderr.write(`${usage()}\n`);
    return name === undefined || name === '--help' || name === '-h' ? 0 : 2;
  }
  return (await load())(rest);
}

process.exitCode = await run(process.argv.slice(2));
