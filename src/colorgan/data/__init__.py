"""Photos in, training tensors out: the bundled sample, validation and deduplication of
photos (ingest), resizing to Lab shards (preprocess) and the tf.data stream that reads them."""
