//! The async consumer under tokio: a task produces payments and awaits their deliveries; a
//! consumer group member reads them as a stream, with no thread blocked and nothing polling.
//!
//!     cargo run --features async --example async_consumer -- DIR   # DIR defaults to a temp dir

use std::pin::Pin;
use std::time::{Duration, Instant};

use futures_core::Stream;
use partlog::{
    AsyncConsumer, Consumer, ConsumerConfig, Error, Log, Producer, ProducerConfig, ProducerRecord, TopicConfig,
};

const RECORDS: usize = 20_000;

async fn next<S: Stream + Unpin>(s: &mut S) -> Option<S::Item> {
    std::future::poll_fn(|cx| Pin::new(&mut *s).poll_next(cx)).await
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Error> {
    let dir = std::env::args_os()
        .nth(1)
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| std::env::temp_dir().join(format!("partlog-async-{}", std::process::id())));
    let log = Log::open(&dir)?;
    if log.topic("payments").is_err() {
        log.create_topic("payments", 4, TopicConfig::default())?;
    }
    println!("opened {}; one tokio thread runs the producer and the consumer", dir.display());

    let config = ConsumerConfig::default().set("group.id", "async-readers")?.set("auto.offset.reset", "latest")?;
    let mut consumer = AsyncConsumer::new(Consumer::new(&log, config)?);
    consumer.consumer().subscribe(&["payments"])?;
    // Join the group (and take positions at the end) before producing.
    let _ = tokio::time::timeout(Duration::from_millis(50), consumer.poll()).await;

    let producer = Producer::new(&log, ProducerConfig::default())?;
    let started = Instant::now();
    let sender = tokio::spawn(async move {
        let mut deliveries = Vec::with_capacity(RECORDS);
        for i in 0..RECORDS {
            let record = ProducerRecord::new("payments", format!("payment {i}").into_bytes())
                .key(format!("pos-{}", i % 32).into_bytes());
            deliveries.push(producer.send(record));
        }
        let mut delivered = 0;
        for d in deliveries {
            d.await.map_err(|e| e.error)?; // awaited, not blocked on
            delivered += 1;
        }
        Ok::<usize, std::sync::Arc<Error>>(delivered)
    });

    let mut stream = consumer.stream();
    let mut received = 0;
    while received < RECORDS {
        match tokio::time::timeout(Duration::from_secs(30), next(&mut stream)).await {
            Ok(Some(record)) => {
                record?;
                received += 1;
            }
            _ => break,
        }
    }
    drop(stream);
    let delivered = sender.await.expect("producer task").map_err(|e| Error::InvalidState {
        what: if matches!(*e, Error::Closed { .. }) { "producer closed" } else { "a delivery failed" },
    })?;
    consumer.consumer().commit_sync()?;
    println!(
        "produced {delivered} and received {received} records through the stream in {:.2} s",
        started.elapsed().as_secs_f64()
    );
    consumer.into_inner().close()?;
    if received != RECORDS {
        std::process::exit(1);
    }
    Ok(())
}
