fn main() {
    // sqlx::migrate! embeds migrations/ at compile time; a new file there must rebuild.
    println!("cargo:rerun-if-changed=migrations");
}
