// Kubeconfig files for the admin, certificate users and ServiceAccount tokens.

export interface Kubeconfig { server: string; caPem: string; user: { certPem?: string; keyPem?: string; token?: string } }

export function kubeconfigText(k: Kubeconfig): string {
  const b64 = (s: string): string => Buffer.from(s).toString('base64');
  const user: Record<string, string> = {};
  if (k.user.certPem) user['client-certificate-data'] = b64(k.user.certPem);
  if (k.user.keyPem) user['client-key-data'] = b64(k.user.keyPem);
  if (k.user.token) user.token = k.user.token;
  // JSON is YAML: every kubeconfig reader (client-go, client-node, helm) accepts it.
  return JSON.stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'e2e', cluster: { server: k.server, 'certificate-authority-data': b64(k.caPem) } }],
    users: [{ name: 'e2e', user }],
    contexts: [{ name: 'e2e', context: { cluster: 'e2e', user: 'e2e', namespace: 'default' } }],
    'current-context': 'e2e',
  }, null, 2);
}
