// neighbors.cl: Verlet neighbour lists built on the device from a cell list.
//
// Mirrors: NeighbourList.build and needsRebuild (Sources/MLD/Backend/NeighbourList.swift), the
// CPU backend's cell list and Verlet list: j is a neighbour of k when j != k and
// |min_image(q_j - q_k)| < r_list, with r_list = cutoff + skin in Å.
//
// Per step the host writes the positions and resets the status words, then enqueues
//   max_displacement  every atom: |q - q_ref|^2 (minimum image) reduced per work-group, one
//                     atomic_max per group into status[ST_MAX_DISP2] (float bits, >= 0).
// and the build chain; each build kernel first checks needs_rebuild() and returns at once when
// no atom moved more than half the skin, so the decision never leaves the device:
//   clear_cells       every cell: count = 0
//   count_cells       every atom: its cell, atomic_inc of that cell's count
//   scan_cells        one work-group: exclusive prefix sum of the counts -> cell_start, cursor
//   scatter_atoms     every atom: its slot in its cell (atomic cursor) -> order[]
//   sort_cells        every cell: insertion sort of its atoms by index (deterministic lists)
//   build_lists       every agent, taken in cell order: all j within r_list in the 27 (or
//                     fewer, for boxes under three cells wide) surrounding cells; the largest
//                     count reduced per work-group (local scratch), one atomic_max per group
// When the host already knows whether the list is due (it saw the displacements), it skips
// max_displacement and, without a rebuild, the whole chain (OpenCLBackend.hostDecides).
//
// Memory layout (N atoms, C cells, K = capacity):
//   pos      pos_t[N]  wrapped positions (see common.cl), Å
//   ref      pos_t[N]  positions at the last build, Å
//   cell_of  int[N], cell_count int[C], cell_start int[C], cursor int[C]
//   order    int[N]    atom indices sorted by cell, by index within a cell; work-item i of the
//                      per-agent kernels handles agent order[i], so neighbouring work-items
//                      share cells and read the same candidates
//   nbr      int[K*N]  neighbour s of the agent handled by work-item i at nbr[SLOT(s, i, N, K)]:
//                      slot-major s*N + i on GPUs (coalesced loads when a warp walks its
//                      lists), agent-major i*K + s on CPU devices (MLD_AGENT_MAJOR: one
//                      work-item walks contiguous memory); see common.cl
//   nbr_count int[N]   the true neighbour count of work-item i's agent, even beyond K
// Overflow: a count above K is never truncated silently: status[ST_MAX_COUNT] receives the
// largest count, the host sees it above K, grows K and rebuilds before using any force.

__kernel void max_displacement(__global const pos_t *pos, __global const pos_t *ref,
                               const pos_t box, const int n, __global int *status,
                               __local float *scratch) {
    int i = get_global_id(0);
    int l = get_local_id(0);
    float d2 = 0.0f;
    if (i < n) {
        real4 d = min_image(ref[i], pos[i], box);
        d2 = (float)dot(d, d);
    }
    scratch[l] = d2;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] = fmax(scratch[l], scratch[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) atomic_max(&status[ST_MAX_DISP2], as_int(scratch[0]));
}

__kernel void clear_cells(__global int *cell_count, const int ncells,
                          __global const int *status, const float half_skin2) {
    int c = get_global_id(0);
    if (c >= ncells || !needs_rebuild(status, half_skin2)) return;
    cell_count[c] = 0;
}

__kernel void count_cells(__global const pos_t *pos, const int n, const real4 inv_cell_width,
                          const int4 nc, __global int *cell_of, __global int *cell_count,
                          __global const int *status, const float half_skin2) {
    int i = get_global_id(0);
    if (i >= n || !needs_rebuild(status, half_skin2)) return;
    int c = cell_index(cell_coord(pos[i], inv_cell_width, nc), nc);
    cell_of[i] = c;
    atomic_inc(&cell_count[c]);
}

// One work-group of get_local_size(0) items: each scans a contiguous chunk of cells serially,
// the chunk totals are scanned in local memory, then each chunk adds its offset.
__kernel void scan_cells(__global const int *cell_count, const int ncells,
                         __global int *cell_start, __global int *cursor,
                         __global const int *status, const float half_skin2,
                         __local int *scratch) {
    if (!needs_rebuild(status, half_skin2)) return;
    int l = get_local_id(0);
    int m = get_local_size(0);
    int chunk = (ncells + m - 1) / m;
    int lo = min(l * chunk, ncells), hi = min(lo + chunk, ncells);
    int total = 0;
    for (int c = lo; c < hi; c++) total += cell_count[c];
    scratch[l] = total;
    barrier(CLK_LOCAL_MEM_FENCE);
    // Hillis-Steele inclusive scan of the chunk totals.
    for (int s = 1; s < m; s <<= 1) {
        int v = (l >= s) ? scratch[l - s] : 0;
        barrier(CLK_LOCAL_MEM_FENCE);
        scratch[l] += v;
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    int run = scratch[l] - total;
    for (int c = lo; c < hi; c++) {
        cell_start[c] = run;
        cursor[c] = run;
        run += cell_count[c];
    }
}

__kernel void scatter_atoms(const int n, __global const int *cell_of, __global int *cursor,
                            __global int *order, __global const int *status,
                            const float half_skin2) {
    int i = get_global_id(0);
    if (i >= n || !needs_rebuild(status, half_skin2)) return;
    int slot = atomic_inc(&cursor[cell_of[i]]);
    order[slot] = i;
}

__kernel void sort_cells(const int ncells, __global const int *cell_start,
                         __global const int *cell_count, __global int *order,
                         __global const int *status, const float half_skin2) {
    int c = get_global_id(0);
    if (c >= ncells || !needs_rebuild(status, half_skin2)) return;
    int s = cell_start[c], m = cell_count[c];
    for (int a = s + 1; a < s + m; a++) {
        int v = order[a];
        int b = a - 1;
        while (b >= s && order[b] > v) { order[b + 1] = order[b]; b--; }
        order[b + 1] = v;
    }
}

// The cells to visit along one axis around cell coordinate c: c-1, c, c+1 (periodic) when the
// axis has at least three cells, otherwise every cell of the axis once.
static inline int axis_span(int nc) { return nc >= 3 ? 3 : nc; }
static inline int axis_cell(int c, int t, int nc) {
    if (nc >= 3) { int v = c + t - 1; return v < 0 ? v + nc : (v >= nc ? v - nc : v); }
    return t;
}

__kernel void build_lists(__global const pos_t *pos, __global pos_t *ref, const int n,
                          const pos_t box, const real4 inv_cell_width, const int4 nc,
                          const real rlist2, __global const int *cell_start,
                          __global const int *cell_count, __global const int *order,
                          const int capacity, __global int *nbr, __global int *nbr_count,
                          __global int *status, const float half_skin2, __local int *scratch) {
    // The decision is the same for every work-item, so the whole group returns together and
    // the barriers below are reached by all or none.
    if (!needs_rebuild(status, half_skin2)) return;
    int i = get_global_id(0);
    int l = get_local_id(0);
    int count = 0;
    if (i < n) {
        int k = order[i];
        pos_t pk = pos[k];
        int4 ck = cell_coord(pk, inv_cell_width, nc);
        int sx = axis_span(nc.x), sy = axis_span(nc.y), sz = axis_span(nc.z);
        for (int tz = 0; tz < sz; tz++) {
            int cz = axis_cell(ck.z, tz, nc.z);
            for (int ty = 0; ty < sy; ty++) {
                int cy = axis_cell(ck.y, ty, nc.y);
                for (int tx = 0; tx < sx; tx++) {
                    int c = (cz * nc.y + cy) * nc.x + axis_cell(ck.x, tx, nc.x);
                    int s = cell_start[c], e = s + cell_count[c];
                    for (int a = s; a < e; a++) {
                        int j = order[a];
                        if (j == k) continue;
                        real4 d = min_image(pk, pos[j], box);
                        if (dot(d, d) < rlist2) {
                            if (count < capacity) nbr[SLOT(count, i, n, capacity)] = j;
                            count++;
                        }
                    }
                }
            }
        }
        nbr_count[i] = count;
        ref[k] = pk;
    }
    // The group's largest count in local memory, then one atomic_max per group.
    scratch[l] = count;
    barrier(CLK_LOCAL_MEM_FENCE);
    for (int s = get_local_size(0) / 2; s > 0; s >>= 1) {
        if (l < s) scratch[l] = max(scratch[l], scratch[l + s]);
        barrier(CLK_LOCAL_MEM_FENCE);
    }
    if (l == 0) atomic_max(&status[ST_MAX_COUNT], scratch[0]);
    if (i == 0) status[ST_REBUILT] = 1;
}
