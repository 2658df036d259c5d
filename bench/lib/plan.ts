// The order of one benchmark's runs: round by round, each scenario and client count run against
// every target back to back, with the target order rotated so that no target always follows
// another one's load (pure).

export interface PlanStep<S> { round: number; scenario: S; clients: number; target: string }

export function runPlan<S>(rounds: number, scenarios: S[], clients: number[], targets: string[]): Array<PlanStep<S>> {
  const cells = Array.from({ length: rounds }, (_, r) => r + 1)
    .flatMap((round) => scenarios.flatMap((scenario) => clients.map((c) => ({ round, scenario, clients: c }))));
  return cells.flatMap((cell, shift) =>
    targets.map((_, i) => ({ ...cell, target: targets[(i + shift) % targets.length] as string })));
}
