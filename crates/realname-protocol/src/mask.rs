//! Masking rules for personal data shown in pages, API responses and CLI output.

/// Masks a resident ID number: first and last character shown, everything between as `*`.
pub fn mask_id_number(id: &str) -> String {
    mask_keep(id, 1, 1)
}

/// Masks a person's name: only the last character shown (`张三` → `*三`, `欧阳修` → `**修`).
pub fn mask_name(name: &str) -> String {
    let count = name.chars().count();
    if count <= 1 {
        return "*".to_owned();
    }
    mask_keep(name, 0, 1)
}

/// Masks an account e-mail address: first character of the local part and the domain shown
/// (`alice@example.com` → `a****@example.com`).
pub fn mask_email(email: &str) -> String {
    match email.split_once('@') {
        Some((local, domain)) => match local.chars().next() {
            Some(first) => {
                let hidden = local.chars().count().saturating_sub(1).max(1);
                format!("{first}{}@{domain}", "*".repeat(hidden))
            }
            None => format!("*@{domain}"),
        },
        None => mask_keep(email, 1, 0),
    }
}

/// Masks a mainland mobile number: first 3 and last 4 digits shown (`138****5678`).
pub fn mask_phone(phone: &str) -> String {
    mask_keep(phone, 3, 4)
}

/// Keeps `head` leading and `tail` trailing characters and replaces the rest with `*`; if the
/// string is too short for that, everything but the first character is masked.
fn mask_keep(s: &str, head: usize, tail: usize) -> String {
    let chars: Vec<char> = s.chars().collect();
    if chars.len() <= head + tail {
        return chars.iter().enumerate().map(|(i, c)| if i == 0 && chars.len() > 1 { *c } else { '*' }).collect();
    }
    chars.iter().enumerate().map(|(i, c)| if i < head || i >= chars.len() - tail { *c } else { '*' }).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_as_the_details_page_shows() {
        assert_eq!(mask_id_number("11010519491231002X"), "1****************X");
        assert_eq!(mask_name("张三"), "*三");
        assert_eq!(mask_name("欧阳修"), "**修");
        assert_eq!(mask_name("买买提·艾力"), "*****力");
        assert_eq!(mask_name("李"), "*");
        assert_eq!(mask_email("alice@example.com"), "a****@example.com");
        assert_eq!(mask_email("a@example.com"), "a*@example.com");
        assert_eq!(mask_phone("13812345678"), "138****5678");
    }

    #[test]
    fn short_inputs_never_reveal_everything() {
        assert_eq!(mask_id_number("12"), "1*");
        assert_eq!(mask_id_number(""), "");
        assert_eq!(mask_phone("1234"), "1***");
    }
}
