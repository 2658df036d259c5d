// The order of one benchmark's runs: round by round, each scenario and client count run against
// its targets back to back, with the target order rotated so that no target always follows
// another one's load (pure).

export interface PlanStep<S> { round: number; scenario: S; clients: number; target: string }

/** `clients` and `targets` may depend on the scenario (a scenario's own client counts or targets). */
export function runPlan<S>(rounds: number, scenarios: S[], clients: number[] | ((s: S) => number[]), targets: string[] | ((s: S) => string[])): Array<PlanStep<S>> {
  const clientsOf = typeof clients === 'function' ? clients : () => clients;
  const targetsOf = typeof targets === 'function' ? targets : () => targets;
  const cells = Array.from({ length: rounds }, (_, r) => r + 1)
    .flatMap((round) => scenarios.flatMap((scenario) => clientsOf(scenario).map((c) => ({ round, scenario, clients: c }))));
  return cells.flatMap((cell, shift) => {
    const ts = targetsOf(cell.scenario);
    return ts.map((_, i) => ({ ...cell, target: ts[(i + shift) % ts.length] as string }));
  });
}
