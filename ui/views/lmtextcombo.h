// LmTextCombo: the text a language-model view runs on, as Evaluate and Sensitivity offer it — the Brown corpus's
// held-out split when cw::lm::brownFolder() finds the corpus (offered but off, with how to get it, when not), the
// text files used recently (shared by the views), and "Choose a text file…" (a file dialog). The choice is
// remembered under the view's own settings key. A view may offer the corpus's training split instead
// ("brown:train", the calibration text of Compress).
#pragma once

#include <QComboBox>
#include <QStringList>

namespace cw::ui {

class LmTextCombo : public QComboBox {
    Q_OBJECT
public:
    static constexpr int kMaxRecentTexts = 8;

    // settingsKey: where this view remembers its choice (read here; written on every change).
    explicit LmTextCombo(QString settingsKey, QWidget *parent = nullptr);
    // brownSpec: the Brown corpus's split offered, "brown:heldout" or "brown:train".
    LmTextCombo(QString settingsKey, QString brownSpec, QWidget *parent = nullptr);

    // The text: the Brown split offered or a path to a UTF-8 text file (added to the recent ones).
    void setTextSpec(const QString &spec);
    // "" when nothing usable is chosen (the chooser, or the Brown corpus when it is missing).
    QString textSpec() const;
    // How the text is called on screen ("Brown corpus, held-out split", a file name).
    static QString displayName(const QString &spec);

private:
    void fill(const QString &select);
    void chooseFile();
    void writeSettings();

    QString m_key;
    QString m_brown; // the Brown split offered
    QString m_brownError; // why the Brown corpus is not offered ("" when it is)
    QStringList m_recent;
    int m_lastIndex = 0;
};

} // namespace cw::ui
