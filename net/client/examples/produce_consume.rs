//! A program that uses only `ringlog-client`: it produces a few records to a ringlog broker and
//! reads them back. It builds without the broker, io_uring, openraft or the metrics exporter
//! (`cargo tree -p ringlog-client` shows what it pulls in).
//!
//! With a broker running (`cargo run --release -- broker`):
//!
//! ```sh
//! cargo run -p ringlog-client --example produce_consume -- 127.0.0.1:9092 greetings
//! ```

use std::time::Duration;

use ringlog_wire::ErrorCode;

use ringlog_client::{
    Acks, Client, ClientConfig, ClientError, ConsumerConfig, OffsetReset, ProducerConfig, Record,
    TopicPartition,
};

const RECORDS: usize = 5;

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), ClientError> {
    let mut args = std::env::args().skip(1);
    let bootstrap = args.next().unwrap_or_else(|| "127.0.0.1:9092".into());
    let topic = args.next().unwrap_or_else(|| "greetings".into());

    let client = Client::connect(ClientConfig {
        bootstrap: vec![bootstrap],
        ..Default::default()
    })
    .await?;

    // One partition, the broker's default replication factor; a topic left from an earlier run
    // is used as it is.
    match client
        .admin()
        .create_topic(&topic, Some(1), None, &[])
        .await
    {
        Ok(()) => println!("created topic {topic}"),
        Err(error) if error.error_code() == Some(ErrorCode::TOPIC_ALREADY_EXISTS) => {}
        Err(error) => return Err(error),
    }
    let producer = client.producer(ProducerConfig {
        acks: Acks::All,
        ..Default::default()
    })?;
    let mut partition = 0;
    for n in 0..RECORDS {
        let record = Record::new(topic.as_str()).value(format!("hello {n}"));
        let delivered = producer.send(record).await?.await?;
        // acks=all always reports the offset; acks=0 would not know it.
        let offset = delivered
            .offset
            .map_or("?".into(), |offset| offset.to_string());
        println!(
            "produced offset {offset} to partition {}",
            delivered.partition
        );
        partition = delivered.partition;
    }
    producer.close().await?;

    let consumer = client.consumer(ConsumerConfig {
        auto_offset_reset: OffsetReset::Earliest,
        ..Default::default()
    });
    consumer
        .assign(&[TopicPartition::new(topic.as_str(), partition)])
        .await?;
    let records = consumer.poll(Duration::from_secs(5)).await?;
    for record in &records {
        let value = record.value.as_deref().unwrap_or_default();
        println!(
            "consumed offset {}: {}",
            record.offset,
            String::from_utf8_lossy(value)
        );
    }
    Ok(())
}
