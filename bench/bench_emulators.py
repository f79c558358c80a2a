"""The two local S3 + SQS emulators side by side: start time, idle memory, request latency, stop time.

Starts LocalStack (host mode, .venv-localstack) and moto server in turn, as the embedded stack
does, and prints medians over a few starts. Nothing is asserted.

    .venv/bin/python bench/bench_emulators.py [--starts 3] [--requests 30]
"""

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))


def rss_mib(pid: int) -> float:
    import psutil

    process = psutil.Process(pid)
    return sum(p.memory_info().rss for p in [process] + process.children(recursive=True)) / 2 ** 20


def requests_ms(url: str, count: int):
    import boto3
    from botocore.config import Config

    from functions.local.stack import LOCAL_CREDENTIALS

    options = dict(region_name="us-east-1", endpoint_url=url, aws_access_key_id=LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
                   aws_secret_access_key=LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"])
    s3 = boto3.client("s3", config=Config(s3={"addressing_style": "path"}), **options)
    sqs = boto3.client("sqs", **options)
    s3.create_bucket(Bucket="bench")
    queue = sqs.create_queue(QueueName="bench")["QueueUrl"]
    body = b"\0" * 2 ** 20
    put_get, send_receive = [], []
    for n in range(count):
        started = time.perf_counter()
        s3.put_object(Bucket="bench", Key=f"k{n}", Body=body)
        s3.get_object(Bucket="bench", Key=f"k{n}")["Body"].read()
        put_get.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        sqs.send_message(QueueUrl=queue, MessageBody="{}")
        for message in sqs.receive_message(QueueUrl=queue, WaitTimeSeconds=1).get("Messages", []):
            sqs.delete_message(QueueUrl=queue, ReceiptHandle=message["ReceiptHandle"])
        send_receive.append((time.perf_counter() - started) * 1000)
    return statistics.median(put_get), statistics.median(send_receive)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--starts", type=int, default=3)
    parser.add_argument("--requests", type=int, default=30)
    args = parser.parse_args()
    from functions.local.stack import emulator_class

    print("| emulator | start to ready | idle RSS | 1 MiB put + get | SQS send + receive + delete | stop |")
    print("| --- | --- | --- | --- | --- | --- |")
    for kind in ("localstack", "moto"):
        starts, memory, stops, put_get, send_receive = [], [], [], [], []
        for _ in range(args.starts):
            emulator = emulator_class(kind)(state_dir=Path(tempfile.mkdtemp(prefix="pixelflow-bench-")))
            started = time.perf_counter()
            emulator.start()
            starts.append(time.perf_counter() - started)
            time.sleep(2)   # idle, as between requests
            memory.append(rss_mib(emulator.pid))
            timings = requests_ms(emulator.url, args.requests)
            put_get.append(timings[0])
            send_receive.append(timings[1])
            started = time.perf_counter()
            emulator.stop()
            stops.append(time.perf_counter() - started)
        print(f"| {kind} | {statistics.median(starts):.2f} s | {statistics.median(memory):.0f} MiB | "
              f"{statistics.median(put_get):.1f} ms | {statistics.median(send_receive):.1f} ms | "
              f"{statistics.median(stops):.2f} s |", flush=True)


if __name__ == "__main__":
    main()
