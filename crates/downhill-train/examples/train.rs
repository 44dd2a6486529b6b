//! Training a small model from code: a multilayer perceptron learns to tell two concentric rings
//! apart, something no linear classifier can do.
//!
//! Run it with `cargo run --example train`.
//!
//! The data: 600 points in the plane, class 0 on a ring of radius about 1, class 1 on a ring of
//! radius about 2. A linear boundary cuts the plane in two halves and so gets each ring half
//! wrong: about 50% accuracy. A 16-16 tanh MLP can draw a circle between the rings.

use downhill::prelude::*;
use downhill::rng::Rng;
use downhill_train::{Dataset, Model, Target, Trainer};

fn main() -> Result<()> {
    // ---- The data set -------------------------------------------------------------------------
    let mut rng = Rng::new(7);
    let (mut features, mut labels) = (Vec::new(), Vec::new());
    for i in 0..600 {
        let class = (i % 2) as u32;
        let radius = 1.0 + class as f64 + 0.15 * rng.normal();
        let angle = rng.range(0.0, std::f64::consts::TAU);
        features.extend([radius * angle.cos(), radius * angle.sin()]);
        labels.push(class);
    }
    let rings = Dataset {
        name: "rings".into(),
        features,
        dim: 2,
        feature_names: vec!["x".into(), "y".into()],
        target: Target::Classes { labels, names: vec!["inner".into(), "outer".into()] },
    };
    // Hold out 20% (chosen from the seed) to measure accuracy on points not trained on.
    let (train, validation) = rings.split(0.2, 1)?;

    // ---- Train a linear classifier and an MLP, same optimizer, same batches --------------------
    let mut accuracy = Vec::new();
    for spec in ["logistic", "mlp:hidden=16,16,act=tanh"] {
        let model = Model::parse(spec, 2, &rings.target)?;
        let adam: Box<dyn Optimizer<f32>> = Box::new(Adam::<f32>::new(0.01)?);
        // Minibatches of 32, initialization and shuffling from seed 3.
        let mut trainer = Trainer::new(&train, &validation, model, adam, 32, 3)?;
        println!("{spec} ({} parameters):", trainer.model().num_params());
        for _ in 0..40 {
            let stats = trainer.epoch()?;
            if stats.epoch % 10 == 0 {
                println!(
                    "  epoch {:>2}  train loss {:.4}  validation loss {:.4}  validation accuracy {:.1}%",
                    stats.epoch,
                    stats.train_loss,
                    stats.val_loss.unwrap_or(f64::NAN),
                    100.0 * stats.val_accuracy.unwrap_or(0.0)
                );
            }
        }
        accuracy.push(trainer.history().last().and_then(|s| s.val_accuracy).unwrap_or(0.0));
    }

    // The linear model cannot beat a coin by much; the MLP separates the rings (the noise, 0.15
    // against a gap of 1 between the radii, puts very few points on the wrong side).
    assert!(accuracy[0] < 0.7, "a linear classifier reached {}", accuracy[0]);
    assert!(accuracy[1] > 0.97, "the MLP reached only {}", accuracy[1]);
    println!("validation accuracy: linear {:.1}%, MLP {:.1}%", 100.0 * accuracy[0], 100.0 * accuracy[1]);
    Ok(())
}
