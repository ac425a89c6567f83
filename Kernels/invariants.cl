// invariants.cl: the invariants phi_k of every agent, from its neighbour list.
//
// Mirrors: InvariantEvaluator.selectNearest / nearestInvariants / radialSums (Sources/MLD/
// Invariants/InvariantEvaluator.swift), which the CPU backend runs: the same candidates (r^2 <=
// search radius^2, ties to the lower index), the same f_c and bases. The angular blocks that may
// follow the distance block are angular.cl's.
//
// Model defines (set by the host from the model file when it builds the program):
//   MLD_NSPECIES            number of species S
//   MLD_P                   invariants per agent P (the same layout for every agent species)
//   MLD_PD                  invariants of the distance block (its first MLD_PD; labelled angles
//                           and angular sums follow, computed by angular.cl)
//   MLD_NEAREST             nearest family: MLD_NEAREST_COUNTS = n_0,...,n_{S-1} (PD = sum n_B);
//                           MLD_INVERSE_DISTANCE when t(r) = 1/r, else t(r) = r
//   MLD_RADIAL              radial family: MLD_NBASIS basis functions per species (PD = S*NBASIS),
//                           MLD_CUTOFF r_c in Å, f_c(r) = 0.5 (1 + cos(pi r / r_c)), and either
//                           MLD_BASIS_GAUSSIAN with MLD_BASIS_CENTERS and MLD_BASIS_WIDTHS (Å):
//                           g_n(r) = exp(-(r - mu_n)^2 / (2 sigma_n^2)), or
//                           MLD_BASIS_INVERSE_POWER with MLD_BASIS_POWERS: g_n(r) = r^-p_n
//
// Kernels (one work-item per agent; work-item i handles agent k = order[i], see neighbors.cl):
//   invariants_nearest(pos, n, box, species, order, nbr, nbr_count, capacity, search2,
//                      complete2, phi, sel, status)
//     for each species B: the n_B nearest atoms of B with r^2 <= search2 (the search radius
//     squared, Å^2), sorted ascending by (distance, index); phi[a*n + i] = t(r_a) (Å or 1/Å),
//     sel[a*n + i] = the neighbour's atom index (a < PD; sel is int[PD*n], phi acc[P*n], both
//     SLOT layout with strides PD and P). Too few atoms of B within the search radius:
//     status[ST_SHORT_AGENT] = min over such agents of k*S + B (the host names the agent).
//     The list may be shorter than the search radius (complete2 = its cutoff squared, within
//     which it holds every atom): an agent whose n_B-th nearest lies beyond it raises
//     status[ST_NEED_R2] (float bits of the r^2 it needs) and the host lengthens the list.
//   invariants_radial(pos, n, box, species, order, nbr, nbr_count, capacity, phi)
//     phi[(B*NBASIS + m)*n + i] = sum over neighbours j of species B with r < r_c of g_m(r) f_c(r).
// phi is acc[P*n] in the SLOT layout of common.cl (stride P; these kernels write its first PD
// entries); its distances are formed in `real`, its sums in `acc`.

#ifdef MLD_NEAREST
__constant int NEAREST_COUNT[MLD_NSPECIES] = { MLD_NEAREST_COUNTS };

#ifdef MLD_SELECT_NETWORK
// n_c as a compile-time constant (MLD_NC0 ... MLD_NC7 from the host; at most 8 species).
#if MLD_NSPECIES > 8
#error "MLD_SELECT_NETWORK supports at most 8 species"
#endif
#ifndef MLD_NC1
#define MLD_NC1 0
#endif
#ifndef MLD_NC2
#define MLD_NC2 0
#endif
#ifndef MLD_NC3
#define MLD_NC3 0
#endif
#ifndef MLD_NC4
#define MLD_NC4 0
#endif
#ifndef MLD_NC5
#define MLD_NC5 0
#endif
#ifndef MLD_NC6
#define MLD_NC6 0
#endif
#ifndef MLD_NC7
#define MLD_NC7 0
#endif
#define NEAREST_NC(c) ((c) == 0 ? MLD_NC0 : (c) == 1 ? MLD_NC1 : (c) == 2 ? MLD_NC2 : (c) == 3 ? MLD_NC3 : \
                       (c) == 4 ? MLD_NC4 : (c) == 5 ? MLD_NC5 : (c) == 6 ? MLD_NC6 : MLD_NC7)
#endif

// Offset of species B's block in phi.
static inline int nearest_offset(int b) {
    int o = 0;
    for (int c = 0; c < b; c++) o += NEAREST_COUNT[c];
    return o;
}

// t(r) and t'(r) of the nearest family, in acc precision.
static inline acc nearest_t(acc r) {
#ifdef MLD_INVERSE_DISTANCE
    return (acc)1 / r;
#else
    return r;
#endif
}
static inline acc nearest_dt(acc r) {
#ifdef MLD_INVERSE_DISTANCE
    return -(acc)1 / (r * r);
#else
    return (acc)1;
#endif
}

// Whether candidate (r2, j) sorts before slot (best, bj).
static inline bool nearest_before(real r2, int j, real best, int bj) {
    return bj < 0 || r2 < best || (r2 == best && j < bj);
}

__kernel void invariants_nearest(__global const pos_t *pos, const int n, const pos_t box,
                                 __global const int *species, __global const int *order,
                                 __global const int *nbr, __global const int *nbr_count,
                                 const int capacity, const real search2, const real complete2,
                                 __global acc *phi,
                                 __global int *sel, __global int *status) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    pos_t pk = pos[k];
    real best[MLD_PD];
    int bj[MLD_PD];
    int m = min(nbr_count[i], capacity);
#ifdef MLD_SELECT_NETWORK
    // GPU form: per species block a sorted list of the n_B smallest (r2, j), kept by a
    // branch-free insertion pass (compare, keep the smaller, carry the larger on). The block
    // sizes are compile-time constants (MLD_NC0, MLD_NC1, ...) and every loop is unrolled, so
    // best[] and bj[] live in registers and the work-items of a warp never diverge. A candidate
    // of another species, or beyond the search radius, enters every block as an empty slot
    // (MAXFLOAT, INT_MAX) and changes nothing.
#pragma unroll
    for (int a = 0; a < MLD_PD; a++) { best[a] = MAXFLOAT; bj[a] = INT_MAX; }
    for (int s = 0; s < m; s++) {
        int j = nbr[SLOT(s, i, n, capacity)];
        real4 d = min_image(pk, pos[j], box);
        real r2 = dot(d, d);
        int b = species[j];
        bool ok = r2 <= search2;
        int o = 0;
#pragma unroll
        for (int c = 0; c < MLD_NSPECIES; c++) {
            real x = (ok && b == c) ? r2 : MAXFLOAT;
            int xj = (ok && b == c) ? j : INT_MAX;
#pragma unroll
            for (int a = 0; a < NEAREST_NC(c); a++) {
                real t = best[o + a];
                int tj = bj[o + a];
                bool lt = x < t || (x == t && xj < tj);
                best[o + a] = lt ? x : t;
                bj[o + a] = lt ? xj : tj;
                x = lt ? t : x;
                xj = lt ? tj : xj;
            }
            o += NEAREST_NC(c);
        }
    }
#pragma unroll
    for (int a = 0; a < MLD_PD; a++) {
        if (bj[a] == INT_MAX) { best[a] = search2; bj[a] = -1; }
    }
#else
    // CPU-device form: insertion into the block of the candidate's species.
    for (int a = 0; a < MLD_PD; a++) { best[a] = search2; bj[a] = -1; }
    for (int s = 0; s < m; s++) {
        int j = nbr[SLOT(s, i, n, capacity)];
        real4 d = min_image(pk, pos[j], box);
        real r2 = dot(d, d);
        int b = species[j];
        if (NEAREST_COUNT[b] == 0) continue;
        int o = nearest_offset(b);
        int last = o + NEAREST_COUNT[b] - 1;
        // Keep the n_B smallest (r2, j) with r2 <= search2; an empty slot (bj < 0) comes last.
        // Lexicographic order makes ties deterministic (the CPU's stable insertion over
        // ascending candidates orders them the same way).
        if (r2 > search2 || !nearest_before(r2, j, best[last], bj[last])) continue;
        {
            int a = last;
            while (a > o && nearest_before(r2, j, best[a - 1], bj[a - 1])) {
                best[a] = best[a - 1]; bj[a] = bj[a - 1]; a--;
            }
            best[a] = r2; bj[a] = j;
        }
    }
#endif
    // The list is complete only within complete2: an n_B-th nearest beyond it (or missing)
    // means a longer list is needed, unless the list already reaches the search radius. In the
    // GPU form every index into best[] and bj[] is a compile-time constant (unrolled over the
    // species with MLD_NCb), so they stay in registers.
#ifdef MLD_SELECT_NETWORK
    {
        int o = 0;
#pragma unroll
        for (int b = 0; b < MLD_NSPECIES; b++) {
            if (NEAREST_NC(b) > 0) {
                int last = o + NEAREST_NC(b) - 1;
                if (!(bj[last] >= 0 && best[last] <= complete2)) {
                    if (complete2 < search2)
                        atomic_max(&status[ST_NEED_R2], as_int((float)(bj[last] < 0 ? search2 : best[last])));
                    else if (bj[last] < 0)
                        atomic_min(&status[ST_SHORT_AGENT], k * MLD_NSPECIES + b);
                }
            }
            o += NEAREST_NC(b);
        }
    }
#else
    for (int b = 0; b < MLD_NSPECIES; b++) {
        if (NEAREST_COUNT[b] == 0) continue;
        int last = nearest_offset(b) + NEAREST_COUNT[b] - 1;
        if (bj[last] >= 0 && best[last] <= complete2) continue;
        if (complete2 < search2)
            atomic_max(&status[ST_NEED_R2], as_int((float)(bj[last] < 0 ? search2 : best[last])));
        else if (bj[last] < 0)
            atomic_min(&status[ST_SHORT_AGENT], k * MLD_NSPECIES + b);
    }
#endif
    // The selected distances again, in acc precision (see min_image_acc in common.cl).
#pragma unroll
    for (int a = 0; a < MLD_PD; a++) {
        acc v = 0;
        if (bj[a] >= 0) {
            acc4 d = min_image_acc(pk, pos[bj[a]], box);
            v = nearest_t(sqrt(dot(d, d)));
        }
        phi[SLOT(a, i, n, MLD_P)] = v;
        sel[SLOT(a, i, n, MLD_PD)] = bj[a] >= 0 ? bj[a] : k;
    }
}
#endif

#ifdef MLD_RADIAL
#ifdef MLD_BASIS_GAUSSIAN
__constant acc BASIS_CENTER[MLD_NBASIS] = { MLD_BASIS_CENTERS };
__constant acc BASIS_WIDTH[MLD_NBASIS] = { MLD_BASIS_WIDTHS };
#else
__constant acc BASIS_POWER[MLD_NBASIS] = { MLD_BASIS_POWERS };
#endif

// g_m(r) and its derivative in r, evaluated in `fn` (common.cl: float with MLD_FN_FLOAT, else
// acc, i.e. double wherever the device has fp64) and returned in acc.
static inline acc basis_value(int m, acc r, acc *deriv) {
    fn rf = (fn)r;
#ifdef MLD_BASIS_GAUSSIAN
    fn x = rf - (fn)BASIS_CENTER[m];
    fn inv_s2 = (fn)1 / ((fn)BASIS_WIDTH[m] * (fn)BASIS_WIDTH[m]);
    fn g = exp(-(fn)0.5 * x * x * inv_s2);
    *deriv = (acc)(-x * inv_s2 * g);
    return (acc)g;
#else
    fn p = (fn)BASIS_POWER[m];
    fn g = pow(rf, -p);
    *deriv = (acc)(-p * g / rf);
    return (acc)g;
#endif
}

// f_c(r) and its derivative in r, for r < r_c.
static inline acc cutoff_value(acc r, acc *deriv) {
    fn x = FN_PI * (fn)r / (fn)MLD_CUTOFF;
    *deriv = (acc)(-(fn)0.5 * FN_PI / (fn)MLD_CUTOFF * sin(x));
    return (acc)((fn)0.5 * ((fn)1 + cos(x)));
}

__kernel void invariants_radial(__global const pos_t *pos, const int n, const pos_t box,
                                __global const int *species, __global const int *order,
                                __global const int *nbr, __global const int *nbr_count,
                                const int capacity, __global acc *phi) {
    int i = get_global_id(0);
    if (i >= n) return;
    int k = order[i];
    pos_t pk = pos[k];
    acc ph[MLD_PD];
    for (int a = 0; a < MLD_PD; a++) ph[a] = 0;
    const acc rc2 = (acc)MLD_CUTOFF * (acc)MLD_CUTOFF;
    int m = min(nbr_count[i], capacity);
    for (int s = 0; s < m; s++) {
        int j = nbr[SLOT(s, i, n, capacity)];
        acc4 d = min_image_acc(pk, pos[j], box);
        acc r2 = dot(d, d);
        if (r2 >= rc2 || j == k) continue;
        acc r = sqrt(r2), dfc, dg;
        acc fc = cutoff_value(r, &dfc);
        int sj = species[j];
        // Every index a compile-time constant (see gradient_radial).
#pragma unroll
        for (int c = 0; c < MLD_NSPECIES; c++) {
            if (sj != c) continue;
#pragma unroll
            for (int b = 0; b < MLD_NBASIS; b++) ph[c * MLD_NBASIS + b] += basis_value(b, r, &dg) * fc;
        }
    }
    for (int a = 0; a < MLD_PD; a++) phi[SLOT(a, i, n, MLD_P)] = ph[a];
}
#endif
