// C++ std::thread with thread_local objects, std::mutex and
// std::condition_variable: every thread resumes; thread_local constructors
// ran once per thread before the snapshot and destructors run at exit in both.
#include <atomic>
#include <condition_variable>
#include <cstdio>
#include <mutex>
#include <string>
#include <thread>
#include <vector>
extern "C" {
#include "scenario.h"
}

static std::atomic<int> constructed{0}, destroyed{0};
struct Counter {
	int value = 0;
	Counter() { constructed++; }
	~Counter() { destroyed++; }
};
static thread_local Counter counter;
static std::mutex m;
static std::condition_variable cv;
static bool go = false;
static int ready = 0;

static void worker(int id)
{
	counter.value = 100 + id;
	{
		std::unique_lock<std::mutex> lk(m);
		ready++;
		cv.notify_all();
		cv.wait(lk, [] { return go; });
	}
	std::string label = "cxx" + std::to_string(id);
	sc_log(label.c_str(), "thread_local value=%d", counter.value);
}

int main()
{
	std::vector<std::thread> threads;
	for (int i = 0; i < 4; i++)
		threads.emplace_back(worker, i);
	{
		std::unique_lock<std::mutex> lk(m);
		cv.wait(lk, [] { return ready == 4; });
	}
	sc_snapshot();
	sc_check("main", "thread_local objects constructed before the snapshot", constructed.load(), 4);
	{
		std::lock_guard<std::mutex> lk(m);
		go = true;
	}
	cv.notify_all();
	for (auto &t : threads)
		t.join();
	sc_check("main", "thread_local objects destroyed at thread exit", destroyed.load(), 4);
	return sc_finish();
}
