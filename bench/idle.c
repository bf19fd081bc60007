/* idle.c: a program that does nothing, for bench_registry.sh's process floor. Built twice:
 * linked as m3age is (build/bench/idle: PIE, only libc dynamic, full RELRO) and -static-pie
 * (build/bench/idle-static), so that the benchmark shows what starting a dynamically linked
 * program costs on the machine, apart from anything m3age does. */
int
main(void)
{
    return 0;
}
