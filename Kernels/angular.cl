// angular.cl: the angular invariant blocks that follow the distance block, and their forces.
//
// Mirrors: InvariantEvaluator.labelledAngles() and InvariantEvaluator.angularSums()
// (Sources/MLD/Invariants/InvariantEvaluator.swift), the blocks LabelledAngles and AngularSums
// of Sources/MLD/Invariants/InvariantBlock.swift: the same formulas, the same skip of
// (1 + lambda cos) <= 0, zeta as repeated products when it is an integer <= 16 (else pow).
//
// Layout of phi_k (P = MLD_P per agent): the distance block (MLD_PD, invariants.cl), then the
// labelled angles (MLD_NLABELLED from MLD_LABELLED_OFFSET = PD), then the angular sums
// (S(S+1)/2 species pairs B <= C, pair-major, function-minor, from MLD_ANGULAR_OFFSET; pairs
// 00, 01, 11 for two species).
//
// Model defines (set by the host from the model, OpenCLModel.defines):
//   MLD_LABELLED            labelled angles (needs MLD_NEAREST): MLD_NLABELLED angles,
//                           MLD_LABELLED_OFFSET, MLD_LABELLED_SLOTS = s1,s2,... (two per angle):
//                           the nearest slots (index in the distance block) of the two
//                           neighbours, e.g. H1-H2 of O:6,H:8 is 6,7.
//     phi = cos theta = d1.d2 / (r1 r2), d_i = q_i - q_k (dimensionless); the neighbours are
//     those invariants_nearest selected (sel), so the angle follows the nearest ranking.
//   MLD_ANGULAR             angular sums: MLD_NANGULAR functions, MLD_ANGULAR_OFFSET,
//                           MLD_ANGULAR_CUTOFF r_c (Å), MLD_ANGULAR_ETAS (1/Å^2),
//                           MLD_ANGULAR_LAMBDAS (+1 or -1), MLD_ANGULAR_ZETAS, and
//                           MLD_ANGULAR_IZETAS (zeta when an integer <= 16, else 0);
//                           MLD_ANGULAR_CAP (from the backend, not the model): neighbours within
//                           r_c cached per agent (0: no cache), see ang_gather.
//     phi[pair(B,C), f] = sum over unordered neighbour pairs {j, l}, j of B, l of C, both with
//     r < r_c, of (1 + lambda cos theta_jkl)^zeta exp(-eta (r_j^2 + r_l^2)) f_c(r_j) f_c(r_l),
//     f_c(r) = (1 + cos(pi r / r_c)) / 2 (dimensionless). The neighbours are the agent's list
//     entries: the host keeps the list complete to r_c (its cutoff never below r_c).
//
// Kernel (one work-item per agent; work-item i handles agent k = order[i], see neighbors.cl):
//   invariants_angular(pos, n, box, species, order, nbr, nbr_count, capacity, sel, phi)
//     pos, n, box, species, order, nbr, nbr_count, capacity  as in neighbors.cl (pos_t, Å)
//     sel  int[PD*n]  the atom behind each nearest slot (invariants_nearest; unused without
//                     MLD_LABELLED, then any buffer)
//     phi  acc[P*n]   writes the entries from MLD_PD on, SLOT layout with stride P (common.cl)
// Forces (called by gradient.cl with g = w + W phi_k over all P invariants; F_k = -sum_a g_a
// dphi_a/dq_k, eV/Å):
//   labelled_force(...)  F += g_a (dcos/dd1 + dcos/dd2), dcos/dd1 = d2/(r1 r2) - cos d1/r1^2
//   angular_force(...)   F += sum over pairs and functions of g_a (dphi_a/dd_j + dphi_a/dd_l)
// Precision: every displacement in `acc` (min_image_acc, common.cl), every cosine, exponential,
// power and cutoff in `acc` (double wherever the device has fp64, also in single precision);
// the sums of phi with kadd and of the force with ACC4_ADD (Kahan in float without fp64).

#if defined(MLD_LABELLED) || defined(MLD_ANGULAR)

#ifdef MLD_LABELLED
#ifndef MLD_NEAREST
#error "labelled angles need the nearest block"
#endif
__constant int LABELLED_SLOTS[2 * MLD_NLABELLED] = { MLD_LABELLED_SLOTS };

// cos theta of labelled angle q and its derivatives in d1, d2 (the displacements of its two
// neighbours). Returns 0 with zero derivatives when a neighbour is missing (sel = k: the agent is
// short of neighbours, which the host reports as an error).
static inline acc labelled_cosine(int q, int i, int k, int n, pos_t pk, __global const pos_t *pos,
                                  const pos_t box, __global const int *sel, acc4 *g1, acc4 *g2) {
    int j1 = sel[SLOT(LABELLED_SLOTS[2 * q], i, n, MLD_PD)];
    int j2 = sel[SLOT(LABELLED_SLOTS[2 * q + 1], i, n, MLD_PD)];
    *g1 = 0; *g2 = 0;
    if (j1 == k || j2 == k) return 0;
    acc4 d1 = min_image_acc(pk, pos[j1], box), d2 = min_image_acc(pk, pos[j2], box);
    acc r1s = dot(d1, d1), r2s = dot(d2, d2);
    acc inv = (acc)1 / (sqrt(r1s) * sqrt(r2s));
    acc c = dot(d1, d2) * inv;
    *g1 = d2 * inv - d1 * (c / r1s);
    *g2 = d1 * inv - d2 * (c / r2s);
    return c;
}

static inline void labelled_force(int i, int k, int n, pos_t pk, __global const pos_t *pos, const pos_t box,
                                  __global const int *sel, const acc *g, acc4 *F, acc4 *C) {
    for (int q = 0; q < MLD_NLABELLED; q++) {
        acc4 g1, g2;
        labelled_cosine(q, i, k, n, pk, pos, box, sel, &g1, &g2);
        ACC4_ADD(*F, *C, g[MLD_LABELLED_OFFSET + q] * (g1 + g2));
    }
}
#endif

#ifdef MLD_ANGULAR
#define ANG_PAIRS (MLD_NSPECIES * (MLD_NSPECIES + 1) / 2)
__constant acc ANG_ETA[MLD_NANGULAR] = { MLD_ANGULAR_ETAS };
__constant acc ANG_LAMBDA[MLD_NANGULAR] = { MLD_ANGULAR_LAMBDAS };
__constant acc ANG_ZETA[MLD_NANGULAR] = { MLD_ANGULAR_ZETAS };
__constant int ANG_IZETA[MLD_NANGULAR] = { MLD_ANGULAR_IZETAS };

// f_c(r) and df_c/dr for r < r_c.
static inline acc ang_cutoff(acc r, acc *dfc) {
    const fn pi_over_rc = FN_PI / (fn)MLD_ANGULAR_CUTOFF;
    fn x = pi_over_rc * (fn)r;
    *dfc = (acc)(-(fn)0.5 * pi_over_rc * sin(x));
    return (acc)((fn)0.5 * ((fn)1 + cos(x)));
}

// R_f(r) = exp(-eta_f r^2) f_c(r) and (dR_f/dr) / r, for every function (the exponential in fn).
static inline void ang_radial(acc r, acc *R, acc *D) {
    acc dfc;
    acc fc = ang_cutoff(r, &dfc);
    for (int f = 0; f < MLD_NANGULAR; f++) {
        acc e = (acc)exp(-(fn)ANG_ETA[f] * (fn)r * (fn)r);
        R[f] = e * fc;
        D[f] = (e * dfc - (acc)2 * ANG_ETA[f] * r * e * fc) / r;
    }
}

// The pair index of species b, c (b <= c, row by row: 00, 01, 11 for two species).
static inline int ang_pair(int sj, int sl) {
    int b = min(sj, sl), c = max(sj, sl);
    return b * MLD_NSPECIES - b * (b - 1) / 2 + (c - b);
}

// (1 + lambda cos)^zeta of function f for base = 1 + lambda cos > 0, and its derivative in cos.
static inline acc ang_power(int f, acc base, acc *dA) {
    acc pm1;
    int iz = ANG_IZETA[f];
    if (iz > 0) {
        pm1 = 1;
        for (int q = 1; q < iz; q++) pm1 *= base;
    } else {
        pm1 = (acc)pow((fn)base, (fn)(ANG_ZETA[f] - (acc)1));
    }
    *dA = ANG_ZETA[f] * ANG_LAMBDA[f] * pm1;
    return pm1 * base;
}

// Neighbour s of the agent's list when it lies within r_c (not the agent itself): its atom,
// displacement d = q_j - q_k and distance r; false otherwise.
static inline bool ang_neighbour(int s, int i, int k, int n, int capacity, pos_t pk,
                                 __global const pos_t *pos, const pos_t box, __global const int *nbr,
                                 int *j, acc4 *d, acc *r) {
    *j = nbr[SLOT(s, i, n, capacity)];
    if (*j == k) return false;
    *d = min_image_acc(pk, pos[*j], box);
    *r = sqrt(dot(*d, *d));
    return *r < (acc)MLD_ANGULAR_CUTOFF;
}

// One pair {j, l} of the angular sums: phi[pair(B,C), f] += A_f(cos) R_f(r_j) R_f(r_l).
static inline void ang_pair_sums(acc4 dj, acc rj, int sj, const acc *Rj, acc4 dl, acc rl, int sl,
                                 const acc *Rl, ksum *ph) {
    acc inv = (acc)1 / (rj * rl);
    acc cosine = dot(dj, dl) * inv;
    int o = ang_pair(sj, sl) * MLD_NANGULAR;
    for (int f = 0; f < MLD_NANGULAR; f++) {
        acc base = (acc)1 + ANG_LAMBDA[f] * cosine;
        if (base <= 0) continue;
        acc dA;
        kadd(&ph[o + f], ang_power(f, base, &dA) * (Rj[f] * Rl[f]));
    }
}

// One pair {j, l} of the force: F += sum_f g_a (dphi_a/dd_j + dphi_a/dd_l), a the pair's
// invariant of function f: dphi/dd_j = dA RR dcos/dd_j + A D_j R_l d_j (and the same for l).
static inline void ang_pair_force(acc4 dj, acc rj, int sj, const acc *Rj, const acc *Dj, acc4 dl, acc rl,
                                  int sl, const acc *Rl, const acc *Dl, const acc *g, acc4 *F, acc4 *C) {
    acc inv = (acc)1 / (rj * rl);
    acc cosine = dot(dj, dl) * inv;
    int o = MLD_ANGULAR_OFFSET + ang_pair(sj, sl) * MLD_NANGULAR;
    // The coefficients of dcos/dd_j + dcos/dd_l, of d_j and of d_l.
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
    ACC4_ADD(*F, *C, sc * (cj + cl) + sdj * dj + sdl * dl);
}

// Per agent, the neighbours within r_c are gathered once into private arrays (displacement,
// distance, species, R_f and D_f), so each pair costs no exponential. MLD_ANGULAR_CAP (set by
// the host from the density: 1.5 times the mean count within r_c plus 16; 0 disables the cache
// when the arrays would be large) bounds them; an agent with more neighbours within r_c takes
// the path that recomputes R_f per pair (same pairs, same order, same formulas).
#ifndef MLD_ANGULAR_CAP
#define MLD_ANGULAR_CAP 0
#endif

#if MLD_ANGULAR_CAP > 0
typedef struct {
    acc4 d[MLD_ANGULAR_CAP];
    acc r[MLD_ANGULAR_CAP];
    int s[MLD_ANGULAR_CAP];
    acc R[MLD_ANGULAR_CAP * MLD_NANGULAR];
    acc D[MLD_ANGULAR_CAP * MLD_NANGULAR];
} ang_cache;

// The neighbours within r_c in list order; their count, or -1 when over MLD_ANGULAR_CAP.
static inline int ang_gather(int i, int k, int n, int capacity, pos_t pk, __global const pos_t *pos,
                             const pos_t box, __global const int *species, __global const int *nbr,
                             __global const int *nbr_count, ang_cache *c) {
    int m = min(nbr_count[i], capacity);
    int cnt = 0;
    for (int s = 0; s < m; s++) {
        int j; acc4 dj; acc rj;
        if (!ang_neighbour(s, i, k, n, capacity, pk, pos, box, nbr, &j, &dj, &rj)) continue;
        if (cnt == MLD_ANGULAR_CAP) return -1;
        c->d[cnt] = dj; c->r[cnt] = rj; c->s[cnt] = species[j];
        ang_radial(rj, c->R + cnt * MLD_NANGULAR, c->D + cnt * MLD_NANGULAR);
        cnt++;
    }
    return cnt;
}
#endif

// The angular sums of agent k (work-item i) into ph[pair * NANGULAR + f].
static inline void angular_sums(int i, int k, int n, int capacity, pos_t pk, __global const pos_t *pos,
                                const pos_t box, __global const int *species, __global const int *nbr,
                                __global const int *nbr_count, ksum *ph) {
#if MLD_ANGULAR_CAP > 0
    ang_cache c;
    int cnt = ang_gather(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, &c);
    if (cnt >= 0) {
        for (int a = 0; a < cnt; a++)
            for (int b = a + 1; b < cnt; b++)
                ang_pair_sums(c.d[a], c.r[a], c.s[a], c.R + a * MLD_NANGULAR,
                              c.d[b], c.r[b], c.s[b], c.R + b * MLD_NANGULAR, ph);
        return;
    }
#endif
    int m = min(nbr_count[i], capacity);
    for (int s = 0; s < m; s++) {
        int j; acc4 dj; acc rj;
        if (!ang_neighbour(s, i, k, n, capacity, pk, pos, box, nbr, &j, &dj, &rj)) continue;
        acc Rj[MLD_NANGULAR], Dj[MLD_NANGULAR];
        ang_radial(rj, Rj, Dj);
        for (int t = s + 1; t < m; t++) {
            int l; acc4 dl; acc rl;
            if (!ang_neighbour(t, i, k, n, capacity, pk, pos, box, nbr, &l, &dl, &rl)) continue;
            acc Rl[MLD_NANGULAR], Dl[MLD_NANGULAR];
            ang_radial(rl, Rl, Dl);
            ang_pair_sums(dj, rj, species[j], Rj, dl, rl, species[l], Rl, ph);
        }
    }
}

// F += the angular sums' force terms of agent k (see ang_pair_force).
static inline void angular_force(int i, int k, int n, int capacity, pos_t pk, __global const pos_t *pos,
                                 const pos_t box, __global const int *species, __global const int *nbr,
                                 __global const int *nbr_count, const acc *g, acc4 *F, acc4 *C) {
#if MLD_ANGULAR_CAP > 0
    ang_cache c;
    int cnt = ang_gather(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, &c);
    if (cnt >= 0) {
        for (int a = 0; a < cnt; a++)
            for (int b = a + 1; b < cnt; b++)
                ang_pair_force(c.d[a], c.r[a], c.s[a], c.R + a * MLD_NANGULAR, c.D + a * MLD_NANGULAR,
                               c.d[b], c.r[b], c.s[b], c.R + b * MLD_NANGULAR, c.D + b * MLD_NANGULAR, g, F, C);
        return;
    }
#endif
    int m = min(nbr_count[i], capacity);
    for (int s = 0; s < m; s++) {
        int j; acc4 dj; acc rj;
        if (!ang_neighbour(s, i, k, n, capacity, pk, pos, box, nbr, &j, &dj, &rj)) continue;
        acc Rj[MLD_NANGULAR], Dj[MLD_NANGULAR];
        ang_radial(rj, Rj, Dj);
        for (int t = s + 1; t < m; t++) {
            int l; acc4 dl; acc rl;
            if (!ang_neighbour(t, i, k, n, capacity, pk, pos, box, nbr, &l, &dl, &rl)) continue;
            acc Rl[MLD_NANGULAR], Dl[MLD_NANGULAR];
            ang_radial(rl, Rl, Dl);
            ang_pair_force(dj, rj, species[j], Rj, Dj, dl, rl, species[l], Rl, Dl, g, F, C);
        }
    }
}
#endif

__kernel void invariants_angular(__global const pos_t *pos, const int n, const pos_t box,
                                 __global const int *species, __global const int *order,
                                 __global const int *nbr, __global const int *nbr_count,
                                 const int capacity, __global const int *sel, __global acc *phi) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    pos_t pk = pos[k];
#ifdef MLD_LABELLED
    for (int q = 0; q < MLD_NLABELLED; q++) {
        acc4 g1, g2;
        phi[SLOT(MLD_LABELLED_OFFSET + q, i, n, MLD_P)] = labelled_cosine(q, i, k, n, pk, pos, box, sel, &g1, &g2);
    }
#endif
#ifdef MLD_ANGULAR
    ksum ph[ANG_PAIRS * MLD_NANGULAR];
    for (int a = 0; a < ANG_PAIRS * MLD_NANGULAR; a++) { ph[a].sum = 0; ph[a].c = 0; }
    angular_sums(i, k, n, capacity, pk, pos, box, species, nbr, nbr_count, ph);
    for (int a = 0; a < ANG_PAIRS * MLD_NANGULAR; a++) phi[SLOT(MLD_ANGULAR_OFFSET + a, i, n, MLD_P)] = ph[a].sum;
#endif
}

#endif
