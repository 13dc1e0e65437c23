/* The three pieces of the engine that need exact control of registers and the
 * stack: creating a thread that starts on a stack of our choosing, the last step
 * of a resurrected thread (rt_sigreturn from its parked frame), and the signal
 * restorer that rt_sigaction requires when called without libc. */

	.text

/* long fa_clone_thread(unsigned long flags, void *stack, int *ptid, int *ctid,
 *                      unsigned long tls, void (*fn)(void *), void *arg)
 * Returns the new TID (or -errno) in the caller. The new thread starts on
 * `stack` with fn(arg) and must never return. fn and arg travel on the new
 * stack because the new thread gets copies of the caller's registers only. */
	.globl fa_clone_thread
	.hidden fa_clone_thread
	.type fa_clone_thread,@function
fa_clone_thread:
	and $-16, %rsi
	sub $16, %rsi
	mov 8(%rsp), %rax
	mov %rax, 8(%rsi)	/* arg */
	mov %r9, (%rsi)		/* fn */
	mov %rcx, %r10
	mov $56, %eax		/* SYS_clone */
	syscall
	test %rax, %rax
	jnz 1f
	xor %ebp, %ebp		/* new thread: no caller frame */
	pop %rax
	pop %rdi
	call *%rax
	hlt
1:	ret
	.size fa_clone_thread, .-fa_clone_thread

/* long fa_clone3_thread(struct fa_clone_args *args, size_t size)
 * clone3 for a thread: the kernel starts it with rsp = stack + stack_size; the
 * caller has stored fn at top-16 and arg at top-8, which the new thread reads
 * before its first call overwrites them. */
	.globl fa_clone3_thread
	.hidden fa_clone3_thread
	.type fa_clone3_thread,@function
fa_clone3_thread:
	mov $435, %eax		/* SYS_clone3 */
	syscall
	test %rax, %rax
	jnz 3f
	xor %ebp, %ebp
	mov -16(%rsp), %rax
	mov -8(%rsp), %rdi
	call *%rax
	hlt
3:	ret
	.size fa_clone3_thread, .-fa_clone3_thread

/* void fa_resume(void *uc, volatile int *departing)
 * Switches to the thread's own parked signal frame (rsp = &ucontext, exactly
 * where the kernel expects it after the handler's `ret` popped pretcode), then
 * tells the forking thread it no longer uses any engine memory (decrement +
 * wake at zero) and returns from the frame with rt_sigreturn: registers, full
 * xstate, signal mask and sigaltstack come back from the frame. */
	.globl fa_resume
	.hidden fa_resume
	.type fa_resume,@function
fa_resume:
	mov %rdi, %rsp
	lock decl (%rsi)
	jnz 2f
	mov %rsi, %rdi
	mov $129, %esi		/* FUTEX_WAKE_PRIVATE */
	mov $1, %edx
	mov $202, %eax		/* SYS_futex */
	syscall
2:	mov $15, %eax		/* SYS_rt_sigreturn */
	syscall
	hlt
	.size fa_resume, .-fa_resume

/* Signal restorer for the parking handler (rt_sigaction needs one without libc). */
	.globl fa_restorer
	.hidden fa_restorer
	.type fa_restorer,@function
fa_restorer:
	mov $15, %eax
	syscall
	hlt
	.size fa_restorer, .-fa_restorer

	.section .note.GNU-stack,"",@progbits
