// Command lines of the control-plane components, as pure functions of ports and paths.
// Flags follow envtest (controller-runtime's test control plane): loopback only, RBAC, a service
// account issuer with our own keys, no leader election; plus the controllers and scheduler envtest
// leaves out, so Deployments, garbage collection, HPAs and PDBs behave as in a cluster.

export interface Paths {
  dir: string;
  etcdData: string;
  certDir: string;
  caCert: string;
  apiServerCert: string;
  apiServerKey: string;
  saPublicKey: string;
  saPrivateKey: string;
  adminKubeconfig: string;
  kwokConfig: string;
  /** EgressSelectorConfiguration routing the API server's outbound dials through the loopback guard. */
  egressConfig: string;
  egressSocket: string;
}

export interface Ports {
  etcdClient: number;
  etcdPeer: number;
  apiServer: number;
  controllerManager: number;
  scheduler: number;
  kwok: number;
}

export const serviceClusterIpRange = '10.0.0.0/24';
export const serviceAccountIssuer = 'https://kubernetes.default.svc.cluster.local';

export function etcdArgs(p: Paths, ports: Ports): string[] {
  const client = `http://127.0.0.1:${ports.etcdClient}`;
  const peer = `http://127.0.0.1:${ports.etcdPeer}`;
  return [
    '--name=default',
    `--data-dir=${p.etcdData}`,
    `--listen-client-urls=${client}`,
    `--advertise-client-urls=${client}`,
    `--listen-peer-urls=${peer}`,
    `--initial-advertise-peer-urls=${peer}`,
    `--initial-cluster=default=${peer}`,
    '--listen-metrics-urls=',
    // A throwaway test store: durability buys nothing and fsync is slow on shared disks.
    '--unsafe-no-fsync=true',
    '--log-level=warn',
  ];
}

export function apiServerArgs(p: Paths, ports: Ports): string[] {
  return [
    `--etcd-servers=http://127.0.0.1:${ports.etcdClient}`,
    `--cert-dir=${p.certDir}`,
    `--tls-cert-file=${p.apiServerCert}`,
    `--tls-private-key-file=${p.apiServerKey}`,
    `--client-ca-file=${p.caCert}`,
    `--secure-port=${ports.apiServer}`,
    '--bind-address=127.0.0.1',
    '--advertise-address=127.0.0.1',
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    '--allow-privileged=true',
    '--authorization-mode=RBAC',
    `--service-account-issuer=${serviceAccountIssuer}`,
    `--service-account-key-file=${p.saPublicKey}`,
    `--service-account-signing-key-file=${p.saPrivateKey}`,
    // Webhooks, service proxy and kubelet dials go through the loopback-only guard (egress.ts).
    `--egress-selector-config-file=${p.egressConfig}`,
    // Endpoints may not hold a loopback address, so the "kubernetes" Service gets none.
    '--endpoint-reconciler-type=none',
    '--profiling=false',
    '--v=1',
  ];
}

/** Health endpoints of the controller manager and scheduler are open without credentials. */
function servingArgs(p: Paths, port: number): string[] {
  return [
    `--kubeconfig=${p.adminKubeconfig}`,
    `--authentication-kubeconfig=${p.adminKubeconfig}`,
    `--authorization-kubeconfig=${p.adminKubeconfig}`,
    '--bind-address=127.0.0.1',
    `--secure-port=${port}`,
    `--cert-dir=${p.certDir}`,
    '--leader-elect=false',
  ];
}

export function controllerManagerArgs(p: Paths, ports: Ports): string[] {
  return [
    ...servingArgs(p, ports.controllerManager),
    // Every default controller: deployment, replicaset, garbage collector, HPA, disruption, …
    '--controllers=*',
    `--service-account-private-key-file=${p.saPrivateKey}`,
    `--root-ca-file=${p.caCert}`,
    `--service-cluster-ip-range=${serviceClusterIpRange}`,
    // Shorter than the 15s default so autoscaling scenarios settle quickly.
    '--horizontal-pod-autoscaler-sync-period=5s',
    '--profiling=false',
    '--v=1',
  ];
}

export function schedulerArgs(p: Paths, ports: Ports): string[] {
  return [...servingArgs(p, ports.scheduler), '--profiling=false', '--v=1'];
}

/** kwok manages only nodes annotated as fake, so it never touches anything else. */
export const kwokNodeAnnotation = { key: 'kwok.x-k8s.io/node', value: 'fake' };

export function kwokArgs(p: Paths, ports: Ports): string[] {
  return [
    `--kubeconfig=${p.adminKubeconfig}`,
    `--config=${p.kwokConfig}`,
    '--manage-all-nodes=false',
    `--manage-nodes-with-annotation-selector=${kwokNodeAnnotation.key}=${kwokNodeAnnotation.value}`,
    `--server-address=127.0.0.1:${ports.kwok}`,
    '--node-ip=127.0.0.1',
    '--cidr=10.0.1.0/24',
  ];
}

/** A Node object that kwok will keep Ready (heartbeats) and whose pods it runs in simulation. */
export function fakeNode(name: string): Record<string, unknown> {
  return {
    apiVersion: 'v1',
    kind: 'Node',
    metadata: {
      name,
      annotations: { [kwokNodeAnnotation.key]: kwokNodeAnnotation.value, 'node.alpha.kubernetes.io/ttl': '0' },
      labels: {
        'kubernetes.io/hostname': name,
        'kubernetes.io/os': 'linux',
        'kubernetes.io/arch': 'amd64',
        'node-role.kubernetes.io/agent': '',
        type: 'kwok',
      },
    },
    spec: {},
    status: {
      allocatable: { cpu: '32', memory: '256Gi', pods: '110' },
      capacity: { cpu: '32', memory: '256Gi', pods: '110' },
      nodeInfo: { architecture: 'amd64', operatingSystem: 'linux', kubeletVersion: 'fake', kubeProxyVersion: 'fake' },
      phase: 'Running',
    },
  };
}
