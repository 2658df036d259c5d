// The control-plane test tier's harness: start a real control plane, talk to it, install the chart.
export { startControlPlane } from './controlplane.ts';
export { kubeconfigText } from './kubeconfig.ts';
export { installOperatorChart, chartValues } from './chart.ts';
export type { InstallOptions, Installed } from './chart.ts';
export type { ControlPlane, ControlPlaneOptions, SpawnSpec } from './controlplane.ts';
export { Kube, apiErrorCode, apiErrorMessage, parseManifests, rawRequest, fieldManager } from './kube.ts';
export type { Credentials, Manifest, ObjectRef, RawResponse } from './kube.ts';
export { chartDir, makeHelm, runCommand } from './helm.ts';
export type { Helm, RunResult } from './helm.ts';
export { clarusBin, findBinaries, findHelm, toolVersions } from './binaries.ts';
export type { Binaries } from './binaries.ts';
export { startProcess, freePort, waitUntil } from './process.ts';
export type { ManagedProcess } from './process.ts';
