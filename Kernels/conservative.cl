// conservative.cl: conservative forces F_i = -dU/dq_i of U = sum_k H_{A_k}(phi_k), without atomics.
//
// Mirrors: the CPU backend with a conservative model (CPUBackend.evaluate's per-block scatter
// of AgentForceEvaluator.neighbourForce, Sources/MLD/Backend/CPUBackend.swift and
// Sources/MLD/Loss/LearnedModel.swift) and the neighbour terms dphi_a/dq_j of
// InvariantEvaluator (Sources/MLD/Invariants/InvariantEvaluator.swift): every agent's loss acts
// on each atom its invariants depend on, F_i = -sum_k sum_a g^k_a dphi^k_a/dq_i with
// g^k = dH/dphi = w + W phi_k. Only with MLD_CONSERVATIVE (OpenCLModel.defines).
//
// Every atom an agent's invariants depend on lies in the agent's neighbour list (the nearest
// selection, the labelled angles, the radial and the angular sums all take their atoms from
// it), and the list is symmetric (j lists k exactly when k lists j: the same minimum-image
// distance, negated exactly, against the same r_list). So the force of agent k on atom j is
// stored in k's list entry of j, and j gathers it through its own entry of k. The link
// between the two entries is the reverse index, rebuilt only when the list is:
//
// Kernels (one work-item per agent; work-item i handles agent k = order[i], see neighbors.cl):
//   conservative_invert(n, order, status, item)            only when status[ST_REBUILT] == 1
//     item[order[i]] = i: the work-item (list row) of every atom.
//   conservative_reverse(n, order, nbr, nbr_count, capacity, item, status, rev)   only when rebuilt
//     rev[SLOT(s, i, n, K)] = SLOT(u, item[j], n, K) for j = nbr[SLOT(s, i, n, K)], where u is
//     the entry of k = order[i] in j's list: the index into `terms` of the force of agent j on
//     atom k. An entry without its pair (never in a symmetric list) gets -1 and sets
//     status[ST_CONS_UNPAIRED] = 1, which the host reports as an error.
//   conservative_terms(pos, n, box, species, order, phi, sel, nbr, nbr_count, capacity, w, W,
//                      terms, own, losses)                                            pass 1
//     g = w + W phi_k and H_A(phi_k) (gradient.cl's loss_gradient); for every list entry s of
//     agent k, terms[SLOT(s, i, n, K)] = -sum_a g_a dphi_a/dq_j, the force (eV/Å) k's loss puts
//     on j = nbr[SLOT(s, i, n, K)] (zero for an entry k's invariants do not depend on);
//     own[k] = minus the sum of them (translation invariance: dphi_a/dq_k = -sum_j dphi_a/dq_j),
//     which is the selfish force of gradient.cl; losses[k] = H_A(phi_k) (eV).
//   conservative_gather(n, order, nbr_count, capacity, rev, terms, own, forces)       pass 2
//     forces[k] = own[k] + sum over k's list entries s of terms[rev[SLOT(s, i, n, K)]]: the
//     forces of every agent that lists k, in list order (deterministic; no atomics).
//
// Memory (N atoms, K list capacity): terms acc4[K*N] (the SLOT layout of nbr), rev int[K*N],
// item int[N], own acc4[N]; pos, phi, sel, nbr, nbr_count, w, W as in gradient.cl.
// Precision: displacements, g and every term in `acc` (double wherever the device has fp64),
// the own and gathered sums with ACC4_ADD (Kahan in float without fp64).

#ifdef MLD_CONSERVATIVE

#define ST_CONS_UNPAIRED 7   // status word: some list entry has no reverse entry

__kernel void conservative_invert(const int n, __global const int *order, __global const int *status,
                                  __global int *item) {
    int i = get_global_id(0);
    if (i >= n || status[ST_REBUILT] != 1) return;
    item[order[i]] = i;
}

__kernel void conservative_reverse(const int n, __global const int *order, __global const int *nbr,
                                   __global const int *nbr_count, const int capacity,
                                   __global const int *item, __global int *status, __global long *rev) {
    int i = get_global_id(0);
    if (i >= n || status[ST_REBUILT] != 1) return;
    int k = order[i];
    int m = min(nbr_count[i], capacity);
    for (int s = 0; s < m; s++) {
        int j = nbr[SLOT(s, i, n, capacity)];
        int ij = item[j];
        int mj = min(nbr_count[ij], capacity);
        long t = -1;
        for (int u = 0; u < mj; u++) {
            if (nbr[SLOT(u, ij, n, capacity)] == k) { t = SLOT(u, ij, n, capacity); break; }
        }
        rev[SLOT(s, i, n, capacity)] = t;
        if (t < 0) status[ST_CONS_UNPAIRED] = 1;
    }
}

#ifdef MLD_ANGULAR
// One pair {j, l} of agent k's angular sums: the forces -sum_f g_a dphi_a/dd_j on j and
// -sum_f g_a dphi_a/dd_l on l (ang_pair_force of angular.cl gives the agent minus their sum).
static inline void cons_pair(acc4 dj, acc rj, int sj, const acc *Rj, const acc *Dj, acc4 dl, acc rl, int sl,
                             const acc *Rl, const acc *Dl, const acc *g, acc4 *fj, acc4 *fl) {
    acc inv = (acc)1 / (rj * rl);
    acc cosine = dot(dj, dl) * inv;
    int o = MLD_ANGULAR_OFFSET + ang_pair(sj, sl) * MLD_NANGULAR;
    acc sc = 0, sdj = 0, sdl = 0;
    for (int f = 0; f < MLD_NANGULAR; f++) {
        acc base = (acc)1 + ANG_LAMBDA[f] * cosine;
        if (base <= 0) continue;
        acc dA;
        acc A = ang_power(f, base, &dA);
        acc ga = g[o + f];
        sc += ga * dA * (Rj[f] * Rl[f]);
        sdj += ga * A * Dj[f] * Rl[f];
        sdl += ga * A * Rj[f] * Dl[f];
    }
    acc4 cj = dl * inv - dj * (cosine / (rj * rj));
    acc4 cl = dj * inv - dl * (cosine / (rl * rl));
    *fj -= sc * cj + sdj * dj;
    *fl -= sc * cl + sdl * dl;
}

// Adds the angular sums' forces of agent k to its list entries in `terms` and their negated
// sum to the agent's own force F (compensation C).
static inline void angular_terms(int i, int k, int n, int capacity, pos_t pk, __global const pos_t *pos,
                                 const pos_t box, __global const int *species, __global const int *nbr,
                                 __global const int *nbr_count, const acc *g, __global acc4 *terms,
                                 acc4 *F, acc4 *C) {
    int m = min(nbr_count[i], capacity);
#if MLD_ANGULAR_CAP > 0
    ang_cache c;
    int cnt = ang_gather(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, &c);
    if (cnt >= 0) {
        acc4 fa[MLD_ANGULAR_CAP];
        for (int a = 0; a < cnt; a++) fa[a] = 0;
        for (int a = 0; a < cnt; a++)
            for (int b = a + 1; b < cnt; b++)
                cons_pair(c.d[a], c.r[a], c.s[a], c.R + a * MLD_NANGULAR, c.D + a * MLD_NANGULAR,
                          c.d[b], c.r[b], c.s[b], c.R + b * MLD_NANGULAR, c.D + b * MLD_NANGULAR, g, &fa[a], &fa[b]);
        // The cache holds the list entries within r_c in list order: walk the list again to
        // find the entry of each.
        int a = 0;
        for (int s = 0; s < m && a < cnt; s++) {
            int j; acc4 dj; acc rj;
            if (!ang_neighbour(s, i, k, n, capacity, pk, pos, box, nbr, &j, &dj, &rj)) continue;
            terms[SLOT(s, i, n, capacity)] += fa[a];
            ACC4_ADD(*F, *C, -fa[a]);
            a++;
        }
        return;
    }
#endif
    for (int s = 0; s < m; s++) {
        int j; acc4 dj; acc rj;
        if (!ang_neighbour(s, i, k, n, capacity, pk, pos, box, nbr, &j, &dj, &rj)) continue;
        acc Rj[MLD_NANGULAR], Dj[MLD_NANGULAR];
        ang_radial(rj, Rj, Dj);
        acc4 fj = 0;
        for (int t = s + 1; t < m; t++) {
            int l; acc4 dl; acc rl;
            if (!ang_neighbour(t, i, k, n, capacity, pk, pos, box, nbr, &l, &dl, &rl)) continue;
            acc Rl[MLD_NANGULAR], Dl[MLD_NANGULAR];
            ang_radial(rl, Rl, Dl);
            acc4 fl = 0;
            cons_pair(dj, rj, species[j], Rj, Dj, dl, rl, species[l], Rl, Dl, g, &fj, &fl);
            terms[SLOT(t, i, n, capacity)] += fl;
            ACC4_ADD(*F, *C, -fl);
        }
        terms[SLOT(s, i, n, capacity)] += fj;
        ACC4_ADD(*F, *C, -fj);
    }
}
#endif

__kernel void conservative_terms(__global const pos_t *pos, const int n, const pos_t box,
                                 __global const int *species, __global const int *order,
                                 __global const acc *phi, __global const int *sel,
                                 __global const int *nbr, __global const int *nbr_count, const int capacity,
                                 __constant acc *w, __constant acc *W,
                                 __global acc4 *terms, __global acc4 *own, __global acc *losses) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    int A = species[k];
    acc ph[MLD_P], g[MLD_P];
    for (int a = 0; a < MLD_P; a++) ph[a] = phi[SLOT(a, i, n, MLD_P)];
    acc h = loss_gradient(A, ph, g, w, W);
    pos_t pk = pos[k];
    int m = min(nbr_count[i], capacity);
    acc4 F = 0, C = 0;
#ifdef MLD_NEAREST
    // The force of every nearest slot on its atom, -g_a t'(r) d/r, and of the labelled angles
    // on their two atoms, -g_q dcos/dd (sel = k marks a missing neighbour: no force).
    acc4 fs[MLD_PD];
    int js[MLD_PD];
    for (int a = 0; a < MLD_PD; a++) {
        int j = sel[SLOT(a, i, n, MLD_PD)];
        js[a] = j;
        fs[a] = 0;
        if (j == k) continue;
        acc4 d = min_image_acc(pk, pos[j], box);
        acc r = sqrt(dot(d, d));
        fs[a] = -(g[a] * nearest_dt(r) / r) * d;
    }
#ifdef MLD_LABELLED
    for (int q = 0; q < MLD_NLABELLED; q++) {
        acc4 g1, g2;
        labelled_cosine(q, i, k, n, pk, pos, box, sel, &g1, &g2);
        acc gq = g[MLD_LABELLED_OFFSET + q];
        fs[LABELLED_SLOTS[2 * q]] -= gq * g1;
        fs[LABELLED_SLOTS[2 * q + 1]] -= gq * g2;
    }
#endif
#else
    const acc rc2 = (acc)MLD_CUTOFF * (acc)MLD_CUTOFF;
#endif
    for (int s = 0; s < m; s++) {
        int j = nbr[SLOT(s, i, n, capacity)];
        acc4 t = 0;
#ifdef MLD_NEAREST
        for (int a = 0; a < MLD_PD; a++) {
            if (js[a] == j) t += fs[a];
        }
#else
        acc4 d = min_image_acc(pk, pos[j], box);
        acc r2 = dot(d, d);
        if (r2 < rc2 && j != k) {
            acc r = sqrt(r2), dfc, dg;
            acc fc = cutoff_value(r, &dfc);
            int o = species[j] * MLD_NBASIS;
            acc sum = 0;
            for (int b = 0; b < MLD_NBASIS; b++) {
                acc gb = basis_value(b, r, &dg);
                sum += g[o + b] * (dg * fc + gb * dfc);
            }
            t = -(sum / r) * d;
        }
#endif
        t.w = 0;
        terms[SLOT(s, i, n, capacity)] = t;
        ACC4_ADD(F, C, -t);
    }
#ifdef MLD_ANGULAR
    angular_terms(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, g, terms, &F, &C);
#endif
    F.w = 0;
    own[k] = F;
    losses[k] = h;
}

__kernel void conservative_gather(const int n, __global const int *order, __global const int *nbr_count,
                                  const int capacity, __global const long *rev, __global const acc4 *terms,
                                  __global const acc4 *own, __global acc4 *forces) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    acc4 F = own[k], C = 0;
    int m = min(nbr_count[i], capacity);
    for (int s = 0; s < m; s++) {
        long t = rev[SLOT(s, i, n, capacity)];
        if (t >= 0) ACC4_ADD(F, C, terms[t]);
    }
    F.w = 0;
    forces[k] = F;
}

#endif
