// lb: clients from the event network go to the on-site edges, everyone else to the public ones,
// each falling back to every edge when its group has no healthy edge. The same as
// `--edge-group onsite=onsite1+onsite2@94.45.224.0/19+2001:67c:20a1::/48`, written as a selectEdges hook.
import { cidrGroups } from 'cascade';

const byNetwork = cidrGroups([
  { name: 'onsite', cidrs: ['94.45.224.0/19', '2001:67c:20a1::/48'], edges: ['onsite1', 'onsite2'] },
]);

/** @type {import('cascade').CascadeConfig<'lb'>} */
export default {
  options: { trustProxy: true },
  hooks: {
    selectEdges: byNetwork,
    response({ headers, edge }) {
      if (edge) headers.set('X-Edge-Group', edge.id.startsWith('onsite') ? 'onsite' : 'public');
    },
  },
};
