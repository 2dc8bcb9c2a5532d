/* Time one password hash with the same C library Tessera links (Debian's libargon2, through
 * Sources/CArgon2), single-threaded, median of N: Argon2id verify at Tessera's default
 * (m=7168 KiB, t=5, p=1, 16-byte salt, 32-byte tag) and hash (what a rehash or a sign-up costs).
 * With a second argument P > 1 it also runs P processes verifying at once (N each) and reports
 * the aggregate rate: Argon2 is memory-hard, so P concurrent hashes need not scale P-fold.
 * Output: one JSON object on stdout.
 *   cc -O2 -o hash_time hash_time.c -largon2 && ./hash_time [runs] [procs]
 */
#include <argon2.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

int main(int argc, char **argv) {
    int runs = argc > 1 ? atoi(argv[1]) : 9;
    if (runs < 1 || runs > 1000) runs = 9;
    const uint32_t t = 5, m = 7168, p = 1;
    const char *pw = "BenchPass!2024";
    const unsigned char salt[16] = "0123456789abcdef";
    size_t len = argon2_encodedlen(t, m, p, sizeof salt, 32, Argon2_id);
    char *encoded = malloc(len);
    double *hv = malloc(sizeof(double) * runs), *vv = malloc(sizeof(double) * runs);
    /* warm-up */
    if (argon2id_hash_encoded(t, m, p, pw, strlen(pw), salt, sizeof salt, 32, encoded, len) != ARGON2_OK) return 1;
    for (int i = 0; i < runs; i++) {
        double t0 = now();
        argon2id_hash_encoded(t, m, p, pw, strlen(pw), salt, sizeof salt, 32, encoded, len);
        hv[i] = now() - t0;
        t0 = now();
        if (argon2_verify(encoded, pw, strlen(pw), Argon2_id) != ARGON2_OK) return 2;
        vv[i] = now() - t0;
    }
    int procs = argc > 2 ? atoi(argv[2]) : 1;
    double par_wall = 0;
    if (procs > 1 && procs <= 64) {
        double t0 = now();
        for (int k = 0; k < procs; k++) {
            pid_t pid = fork();
            if (pid == 0) {
                for (int i = 0; i < runs; i++)
                    if (argon2_verify(encoded, pw, strlen(pw), Argon2_id) != ARGON2_OK) _exit(2);
                _exit(0);
            }
        }
        while (wait(NULL) > 0) {}
        par_wall = now() - t0;
    }
    qsort(hv, runs, sizeof(double), cmp);
    qsort(vv, runs, sizeof(double), cmp);
    printf("{\"kdf\": \"argon2id m=%u t=%u p=%u (libargon2, C)\", \"encoded_prefix\": \"$argon2id$v=19$m=%u,t=%u,p=%u$\", "
           "\"runs\": %d, \"hash_median_s\": %.6f, \"hash_min_s\": %.6f, \"verify_median_s\": %.6f, "
           "\"verify_min_s\": %.6f, \"verify_max_s\": %.6f, \"parallel_procs\": %d, "
           "\"parallel_per_hash_s\": %.6f, \"parallel_rate\": %.3f}\n",
           m, t, p, m, t, p, runs, hv[runs / 2], hv[0], vv[runs / 2], vv[0], vv[runs - 1], procs,
           procs > 1 ? par_wall / runs : vv[runs / 2], procs > 1 ? procs * runs / par_wall : 1.0 / vv[runs / 2]);
    return 0;
}
