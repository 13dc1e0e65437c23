/* Private file offsets: the program reads the first 4 bytes of a file, is
 * frozen at its first pthread_create (`--at create`), and each clone then
 * reads the next 4. Clones inherit the template's open file description; if
 * they shared its offset, the second clone would read at offset 8, the third
 * at 12, ... and exit 1. Every clone must find the offset at 4. */
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <unistd.h>

static void *worker(void *arg)
{
	return arg;
}

int main(int argc, char **argv)
{
	(void)argc;
	int fd = open(argv[0], O_RDONLY); /* this program's own file: a regular file of known size */
	char b[4];
	if (fd < 0 || read(fd, b, 4) != 4)
		return 2;
	pthread_t t;
	pthread_create(&t, 0, worker, 0); /* the snapshot, with --at create */
	long at = lseek(fd, 0, SEEK_CUR);
	if (read(fd, b, 4) != 4)
		return 2;
	pthread_join(t, 0);
	printf("read at offset %ld\n", at);
	return at == 4 ? 0 : 1;
}
